import assert from 'node:assert/strict';
import { afterAll, beforeAll, describe, it } from '@jest/globals';
import { causeMessage } from '../../handlers/shared/errors';
import { REQUESTER_HEADER, requesterBinding } from '../../handlers/domain/requester';
import { signGetCallerIdentity, stsEndpoint } from '../../handlers/domain/sts-proof';
import { ExecutionInput } from '../../handlers/shared/schemas';
import type { LocalExecution } from '../../local/engine';
import { CallPoints } from '../support/fault-matrix';
import { LocalAws } from '../support/local-aws';
import { localArnOf, runRotation, statesEntered } from '../support/rotation-runner';
import { pickWith, seeded } from '../support/random';

/**
 * Hostile and malformed execution input, run through the synthesized workflow: every one is
 * refused by the schema at the first step (Detect Keys → Invalid Request) with an error that
 * names the problem, and no handler makes a single AWS call — not even the AssumeRole into a
 * member account the input names.
 */
const MEMBER = '210987654321';
let aws: LocalAws;
let points: CallPoints;

async function refused(input: unknown): Promise<{ execution: LocalExecution; calls: string[] }> {
  points.arm(undefined);
  const execution = await runRotation(input, { decision: 'APPROVED', around: points.around });
  return { execution, calls: points.seen.map((point) => `${point.handler} ${point.command}`) };
}

function assertRefused({ execution, calls }: { execution: LocalExecution; calls: string[] }, problem?: RegExp) {
  assert.equal(execution.status, 'FAILED');
  assert.equal(execution.error, 'InvalidInput', execution.cause);
  assert.deepEqual(statesEntered(execution), ['Receive Request', 'Detect Keys', 'Invalid Request']);
  assert.deepEqual(calls, [], 'no AWS call on bad input');
  assert.ok((execution.cause ?? '').length < 1_000, `a bounded cause (${execution.cause?.length} characters)`);
  if (problem) assert.match(causeMessage(execution.cause) ?? '', problem);
}

const manyFields = Object.fromEntries(Array.from({ length: 5_000 }, (_, i) => [`field-${i}-${'x'.repeat(50)}`, i]));

/** [what it tries, input, the problem the error must name] */
const HOSTILE: [string, unknown, RegExp][] = [
  ['no user name', {}, /userName: Invalid input: expected string/],
  ['a bare string', 'alice', /input: Invalid input: expected object, received string/],
  ['an array', [{ userName: 'alice' }], /expected object, received array/],
  ['an extra field', { userName: 'alice', colour: 'blue' }, /input: unknown field "colour"/],
  ['a JSONPath key', { userName: 'alice', 'config.$': '$$.Execution' }, /unknown field "config\.\$"/],
  ['a context-object key', { userName: 'alice', 'userName.$': '$$.Task.Token' }, /unknown field "userName\.\$"/],
  ['a JSONPath user name', { userName: '$.detection.keys[0]' }, /userName: userName may only hold/],
  ['JSON smuggled in the user name', { userName: 'alice","force":true,"x":"' }, /userName may only hold/],
  ['an intrinsic in the user name', { userName: "States.Format('{}', $$)" }, /userName may only hold/],
  ['a path traversal', { userName: '../../etc/passwd' }, /userName may only hold/],
  ['a newline in the user name', { userName: 'alice\n' }, /userName may only hold/],
  ['a non-ASCII user name', { userName: 'ålice' }, /userName may only hold/],
  ['65 characters', { userName: 'a'.repeat(65) }, /longer than IAM allows \(64\)/],
  ['200,000 characters', { userName: 'a'.repeat(200_000) }, /longer than IAM allows \(64\)/],
  ['a number for the user', { userName: 42 }, /userName: Invalid input: expected string, received number/],
  ['a string for force', { userName: 'alice', force: 'yes' }, /force: Invalid input: expected boolean/],
  ['an array for config', { userName: 'alice', config: [] }, /config: Invalid input: expected object/],
  ['a string number', { userName: 'alice', config: { maxAgeDays: '90' } }, /config\.maxAgeDays/],
  ['a negative grace period', { userName: 'alice', config: { graceSeconds: -1 } }, /config\.graceSeconds/],
  ['a grace period of a year', { userName: 'alice', config: { graceSeconds: 31_536_000 } }, /config\.graceSeconds/],
  ['an unknown validation mode', { userName: 'alice', config: { validationMode: 'webhook' } }, /validationMode/],
  ['an unknown config field', { userName: 'alice', config: { skipVerify: true } }, /unknown field "skipVerify"/],
  ['a date that is not one', { userName: 'alice', asOf: 'yesterday' }, /asOf/],
  ['a short account id', { userName: 'alice', account: '12345' }, /account must be a 12-digit AWS account id/],
  ['a numeric account id', { userName: 'alice', account: 210987654321 }, /account: Invalid input: expected string/],
  ['a typed requester', { userName: 'alice', requestedBy: 'ops' }, /unknown field "requestedBy"/],
  ['a requester that is text', { userName: 'alice', requester: 'ops' }, /requester: Invalid input: expected object/],
  ['a requester without its proof', { userName: 'alice', requester: {} }, /requester\.method/],
  ['a prototype key', JSON.parse('{"userName":"alice","__proto__":{"force":true}}'), /unknown field "__proto__"/],
  ['5,000 long unknown fields', { userName: 'alice', ...manyFields }, /unknown fields "field-0-x+…"/],
  ['a bad name in a managed member account', { userName: 'bad name', account: MEMBER }, /userName may only hold/],
];

describe('hostile execution input', () => {
  beforeAll(async () => {
    aws = await LocalAws.start({ members: [MEMBER] });
    await aws.seedUser('alice');
    const { clients } = await import('../../handlers/shared/clients');
    points = new CallPoints(clients);
  });
  afterAll(async () => aws?.stop());

  for (const [attempt, input, problem] of HOSTILE) {
    it(`refuses ${attempt} at the first step, naming the problem, before any AWS call`, async () => {
      assertRefused(await refused(input), problem);
    });
  }

  it('fails a null input in the engine itself, before any handler runs', async () => {
    const { execution, calls } = await refused(null);
    assert.equal(execution.status, 'FAILED');
    assert.deepEqual(statesEntered(execution), ['Receive Request']);
    assert.deepEqual(calls, []);
  });

  it('refuses 500 generated mutations of a valid input the same way, and leaves alice untouched', async () => {
    const keysBefore = await aws.keys('alice');
    const random = seeded(20261123);
    const pick = pickWith(random);
    const values = [
      null,
      true,
      -1,
      0.5,
      1e308,
      '',
      ' ',
      '$',
      '$$',
      '$.userName',
      '$$.Execution.Input',
      '\u0000',
      'é',
      'x'.repeat(70_000),
      [],
      {},
      { $: 1 },
    ];
    const fields = ['userName', 'account', 'requester', 'asOf', 'force', 'config', 'config.$', 'userName.$', 'x'];
    const configFields = ['maxAgeDays', 'approveDeletion', 'validationMode', 'graceSeconds', 'validationPollSeconds'];
    let generated = 0;
    const batch: unknown[] = [];
    for (let round = 0; generated < 500 && round < 5_000; round += 1) {
      const input: Record<string, unknown> = { userName: 'alice', force: true, config: { validationMode: 'none' } };
      for (let change = 0; change <= Math.floor(random() * 3); change += 1) {
        const field = pick(fields);
        if (field === 'config' && random() < 0.5) {
          input.config = { ...(input.config as object), [pick(configFields)]: pick(values) };
        } else if (random() < 0.2) {
          delete input[field];
        } else {
          input[field] = pick(values);
        }
      }
      if (ExecutionInput.safeParse(input).success) continue; // a valid input is not this test's business
      batch.push(input);
      generated += 1;
      if (batch.length === 25 || generated === 500) {
        // Run together: any AWS call by any of them would show in the shared call log.
        points.arm(undefined);
        const executions = await Promise.all(batch.splice(0).map((one) => runRotation(one, { around: points.around })));
        for (const execution of executions) assertRefused({ execution, calls: points.seen.map((p) => p.command) });
      }
    }
    assert.equal(generated, 500);
    assert.deepEqual(await aws.keys('alice'), keysBefore);
  });

  it('takes a well-formed input with path-like text literally: nothing in it is evaluated', async () => {
    const name = 'literal-path-text';
    const binding = requesterBinding({ executionArn: await localArnOf(name), userName: 'alice' });
    const requester = await signGetCallerIdentity(undefined, stsEndpoint(), 'us-east-1', {
      headers: { [REQUESTER_HEADER]: binding, 'x-keyrot-note': '$$.Task.Token' },
    });
    const execution = await runRotation(
      { userName: 'alice', requester, force: true, config: { validationMode: 'none' } },
      { decision: 'APPROVED', name },
    );
    assert.equal(execution.status, 'SUCCEEDED', execution.cause);
    const started = execution.events.find((event) => event.type === 'ExecutionStarted');
    assert.match(JSON.stringify(started), /"x-keyrot-note\\":\\"\$\$\.Task\.Token\\"/);
    const detected = execution.events.find(
      (event) =>
        event.type === 'TaskStateExited' && (event.stateExitedEventDetails as { name: string }).name === 'Detect Keys',
    );
    const output = JSON.parse((detected?.stateExitedEventDetails as { output: string }).output) as {
      requestedBy: string;
    };
    assert.equal(output.requestedBy, aws.operatorArn);
  });
});
