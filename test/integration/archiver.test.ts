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
  it('reads an ended execution from the Step Functions API, archives it under Object Lock, closes its approvals and lets its records expire with the lock', async () => {
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
    const record = (id: string, executionId: string, status: string) => ({
      approvalId: { S: id },
      executionId: { S: executionId },
      status: { S: status },
      expiresAt: { S: '2099-01-01T00:00:00.000Z' },
      ...(status === 'PENDING' ? { pending: { S: 'PENDING' } } : {}),
    });
    // Beside it: the execution's decided rotation gate, another execution's pending approval,
    // and a sign-in counter: only the first two of this execution are its records.
    const decidedId = 'd'.repeat(32);
    const otherId = 'o'.repeat(32);
    const items = [
      record(approvalId, started.executionArn ?? '', 'PENDING'),
      record(decidedId, started.executionArn ?? '', 'APPROVED'),
      record(otherId, `${started.executionArn}-other`, 'PENDING'),
      { approvalId: { S: `signin#${approvalId}#x` }, identity: { S: 'ops' }, attempts: { N: '1' }, ttl: { N: '1' } },
    ];
    for (const Item of items) await ddb.send(new PutItemCommand({ TableName: table, Item }));
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
    const item = async (id: string) =>
      (await ddb.send(new GetItemCommand({ TableName: table, Key: { approvalId: { S: id } } }))).Item ?? {};
    const approval = await item(approvalId);
    assert.equal(approval.status?.S, 'ENDED');
    assert.match(approval.closedBecause?.S ?? '', /the rotation ended \(SUCCEEDED\)/);
    assert.equal(approval.pending, undefined, 'out of the Pending index');
    // Time to live: the archive's lock (2557 days) from the archiving, on both of its records.
    const lockEnds = Date.now() / 1000 + 2557 * 86_400;
    for (const id of [approvalId, decidedId]) {
      const ttl = Number((await item(id)).ttl?.N);
      assert.ok(Math.abs(ttl - lockEnds) < 600, `${id} expires with the archive's lock (ttl ${ttl})`);
    }
    // Another execution's pending approval is neither closed nor given a time to live.
    const other = await item(otherId);
    assert.deepEqual([other.status?.S, other.pending?.S, other.ttl], ['PENDING', 'PENDING', undefined]);
    assert.equal((await item(`signin#${approvalId}#x`)).ttl?.N, '1', 'the sign-in counter keeps its own');
  });
});
