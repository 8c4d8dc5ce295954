import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, it } from '@jest/globals';
import {
  CreateStateMachineCommand,
  DescribeExecutionCommand,
  GetExecutionHistoryCommand,
  SFNClient,
  StartExecutionCommand,
} from '@aws-sdk/client-sfn';
import { handler as createKey } from '../../handlers/create-key';
import { handler as distributeKey } from '../../handlers/distribute-key';
import { handler as rollBack } from '../../handlers/roll-back';
import { executionName } from '../../handlers/domain/start-rotation';
import { RotationConfig } from '../../handlers/shared/schemas';
import { asHandler } from '../../local/ledger';
import { cliSession } from '../support/cli';
import { LocalAws } from '../support/local-aws';

// `keyrot abort` of a deployed rotation past Create Access Key, from outside: the CLI as a
// subprocess stops the execution in moto's Step Functions (running a stand-in definition with
// the deployed state names) and invokes the Roll Back state's function through the Lambda API,
// here a loopback endpoint that runs the real roll-back handler. Keys and secret stages are
// then read with independent calls.
let aws: LocalAws;
let lambda: Server;
const invocations: { functionName: string; payload: string }[] = [];
const { keyrot } = cliSession(() => aws);

const ROLL_BACK = 'arn:aws:lambda:us-east-1:123456789012:function:Keyrot-RollBack';

beforeAll(async () => {
  aws = await LocalAws.start();
  // moto runs the definitions of this file's state machines (Pass and Wait states only here).
  await fetch(`${aws.moto.endpoint}/moto-api/config`, {
    method: 'POST',
    body: JSON.stringify({ stepfunctions: { execute_state_machine: true } }),
  });
  lambda = createServer((request, response) => {
    let body = '';
    request.on('data', (chunk: Buffer) => (body += chunk.toString()));
    request.on('end', () => {
      const functionName = decodeURIComponent(/\/functions\/([^/]+)\/invocations/.exec(request.url ?? '')?.[1] ?? '');
      invocations.push({ functionName, payload: body });
      const ran =
        functionName === ROLL_BACK
          ? asHandler('roll-back', () => rollBack(JSON.parse(body), { awsRequestId: 'abort' } as never))
          : Promise.reject(new Error(`Function not found: ${functionName}`));
      ran.then(
        (result) => response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(result)),
        (error: Error) =>
          response
            .writeHead(200, { 'content-type': 'application/json', 'x-amz-function-error': 'Unhandled' })
            .end(JSON.stringify({ errorType: error.name, errorMessage: error.message })),
      );
    });
  });
  await new Promise<void>((resolve) => lambda.listen(0, '127.0.0.1', resolve));
});
afterAll(async () => {
  lambda?.close();
  await aws?.stop();
});

const pass = (next: string) => ({ Type: 'Pass', Next: next });
const DEFINITION = {
  StartAt: 'Detect Keys',
  States: {
    'Detect Keys': pass('Create Access Key'),
    'Create Access Key': pass('Distribute Key'),
    'Distribute Key': pass('Wait Before Checking Again'),
    'Wait Before Checking Again': { Type: 'Wait', Seconds: 3600, Next: 'Roll Back' },
    'Roll Back': {
      Type: 'Task',
      Resource: 'arn:aws:states:::lambda:invoke',
      Parameters: { FunctionName: ROLL_BACK, 'Payload.$': '$' },
      End: true,
    },
  },
};

describe('keyrot abort of a deployed rotation past Create Access Key', () => {
  it('stops it and runs the roll-back function: one working key, AWSCURRENT on it, nothing secret sent', async () => {
    const sfn = new SFNClient({ endpoint: aws.moto.endpoint, region: 'us-east-1', credentials: aws.operator });
    const machine = await sfn.send(
      new CreateStateMachineCommand({
        name: 'Keyrot-rotation',
        definition: JSON.stringify(DEFINITION),
        roleArn: 'arn:aws:iam::123456789012:role/keyrot',
      }),
    );
    const user = 'abort-deployed';
    const old = await aws.seedUser(user);
    const name = executionName(user, new Date());
    const executionArn = `${machine.stateMachineArn?.replace(':stateMachine:', ':execution:')}:${name}`;
    // The state the deployed steps would have made, by the real handlers: detected, created, distributed.
    const detected = {
      executionId: executionArn,
      startedAt: new Date(Date.now() - 1000).toISOString(),
      userName: user,
      userArn: `arn:aws:iam::123456789012:user/${user}`,
      requestedBy: 'arn:aws:iam::123456789012:user/operator',
      asOf: new Date().toISOString(),
      force: true,
      secretId: `keyrot/${user}`,
      config: RotationConfig.parse({ validationMode: 'last-used' }),
      detection: {
        decision: 'ROTATE',
        reason: 'forced',
        oldKeyId: old.accessKeyId,
        keys: [
          {
            keyId: old.accessKeyId,
            status: 'Active',
            createdAt: new Date().toISOString(),
            ageDays: 100,
            lastUsedAt: null,
          },
        ],
        secretFormat: 'keyrot',
      },
    };
    const ctx = { awsRequestId: 'test' } as never;
    const created = await asHandler('create-key', () => createKey(detected as never, ctx));
    const withKey = { ...detected, created };
    const distributed = await asHandler('distribute-key', () => distributeKey(withKey as never, ctx));
    const newKey = await aws.secretKey(user);
    assert.notEqual(newKey?.accessKeyId, old.accessKeyId, 'Distribute Key moved AWSCURRENT to the new key');
    await sfn.send(
      new StartExecutionCommand({
        stateMachineArn: machine.stateMachineArn,
        name,
        input: JSON.stringify({ ...withKey, distributed }),
      }),
    );
    for (let i = 0; i < 50; i++) {
      const history = await sfn.send(new GetExecutionHistoryCommand({ executionArn }));
      if ((history.events ?? []).some((e) => e.type === 'WaitStateEntered')) break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }

    const aborted = await keyrot(
      'abort',
      name,
      '--state-machine-arn',
      machine.stateMachineArn ?? '',
      '--reason',
      'CR-1042 withdrawn',
      '--as',
      'olu',
      { AWS_ENDPOINT_URL_LAMBDA: `http://127.0.0.1:${(lambda.address() as AddressInfo).port}` },
    );

    assert.equal(aborted.code, 0, aborted.stderr);
    assert.match(aborted.stdout, /^ABORTED/m);
    assert.match(aborted.stdout, new RegExp(`ROLLED_BACK .*secret AWSCURRENT back to ${old.accessKeyId}`));
    assert.match(aborted.stdout, new RegExp(`deleted new key ${newKey?.accessKeyId}`));
    assert.deepEqual(await aws.keys(user), [{ id: old.accessKeyId, status: 'Active' }]);
    assert.equal((await aws.secretKey(user))?.accessKeyId, old.accessKeyId);
    const described = await sfn.send(new DescribeExecutionCommand({ executionArn }));
    assert.equal(described.status, 'ABORTED');
    // moto keeps no StopExecution cause; the CLI's own line shows the one it sent.
    assert.match(aborted.stdout, new RegExp(`aborted by olu: CR-1042 withdrawn; .*${ROLL_BACK}`));
    assert.equal(invocations.length, 1, 'the roll-back function ran once');
    const emitted = JSON.stringify({ invocations, aborted });
    assert.ok(!emitted.includes(newKey?.secretAccessKey ?? '?'), 'the new secret key travels nowhere');
    assert.ok(!emitted.includes(old.secretAccessKey), 'the old secret key travels nowhere');
  });
});
