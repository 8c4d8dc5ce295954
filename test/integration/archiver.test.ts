import assert from 'node:assert/strict';
import { afterAll, beforeAll, describe, it } from '@jest/globals';
import { DynamoDBClient, GetItemCommand, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import { asHandler } from '../../local/ledger';
import { LocalAws } from '../support/local-aws';

let aws: LocalAws;

beforeAll(async () => {
  aws = await LocalAws.start();
});
afterAll(() => aws.stop());

describe('the deployed archiver', () => {
  it('reads an ended execution from the Step Functions API, archives it under Object Lock and closes its approvals', async () => {
    const machine = await aws.stateMachine('Keyrot-rotation');
    const sfn = new SFNClient({ endpoint: aws.moto.endpoint, region: 'us-east-1', credentials: aws.operator });
    const started = await sfn.send(
      new StartExecutionCommand({
        stateMachineArn: machine,
        name: 'archived-bot-20261202',
        input: JSON.stringify({ userName: 'archived-bot' }),
      }),
    );
    // A deletion gate it left waiting: the approval can never resume it once it ended.
    const ddb = new DynamoDBClient({ endpoint: aws.moto.endpoint, region: 'us-east-1', credentials: aws.operator });
    const table = aws.environment.KEYROT_APPROVALS_TABLE;
    const approvalId = 'a'.repeat(32);
    await ddb.send(
      new PutItemCommand({
        TableName: table,
        Item: {
          approvalId: { S: approvalId },
          executionId: { S: started.executionArn ?? '' },
          status: { S: 'PENDING' },
          expiresAt: { S: '2099-01-01T00:00:00.000Z' },
        },
      }),
    );
    const { handler } = await import('../../handlers/archive-execution');
    const event = {
      'detail-type': 'Step Functions Execution Status Change',
      detail: { executionArn: started.executionArn, status: 'SUCCEEDED' },
    };

    const archived = (await asHandler('archive-execution', () =>
      handler(event as never, { awsRequestId: 'test' } as never),
    )) as {
      recordKey: string;
    };

    // EventBridge delivers at least once: a second delivery finds the record and chains it once.
    const again = (await asHandler('archive-execution', () =>
      handler(event as never, { awsRequestId: 'retry' } as never),
    )) as {
      recordKey: string;
      seq: number;
    };
    assert.deepEqual(again, archived);

    const s3 = new S3Client({
      endpoint: aws.moto.endpoint,
      region: 'us-east-1',
      credentials: aws.operator,
      forcePathStyle: true,
    });
    const object = await s3.send(
      new GetObjectCommand({ Bucket: aws.environment.KEYROT_ARCHIVE_BUCKET, Key: archived.recordKey }),
    );
    assert.equal(object.ObjectLockMode, 'COMPLIANCE');
    assert.match(await object.Body!.transformToString(), /archived-bot-20261202/);
    const approval = await ddb.send(new GetItemCommand({ TableName: table, Key: { approvalId: { S: approvalId } } }));
    assert.equal(approval.Item?.status?.S, 'ENDED');
    assert.match(approval.Item?.closedBecause?.S ?? '', /the rotation ended \(SUCCEEDED\)/);
  });
});
