import assert from 'node:assert/strict';
import { afterAll, beforeAll, describe, it } from '@jest/globals';
import { ListExecutionsCommand, SFNClient } from '@aws-sdk/client-sfn';
import { executionName, startRotation } from '../../handlers/domain/start-rotation';
import { cliSession } from '../support/cli';
import { LocalAws } from '../support/local-aws';

// Two starts of one user at once: two CLIs, the scan and an operator, 20 scan starts.
let aws: LocalAws;
const { keyrot, runningExecution, waitFor } = cliSession(() => aws);

beforeAll(async () => {
  aws = await LocalAws.start();
});
afterAll(async () => aws?.stop());

describe('two rotations of one user started at once', () => {
  it('runs exactly one of two `keyrot rotate --local` started together; the other exits 10 naming it', async () => {
    await aws.seedUser('cli-race');
    const args = ['rotate', 'cli-race', '--local', '--force', '--rotation-approval', '--skip-waits', '--json'];
    const both = [keyrot(...args), keyrot(...args)];
    const loser = await Promise.race(both);
    const name = await runningExecution('cli-race');
    await keyrot('abort', name, '--local', '--reason', 'race test', '--as', 'olu');
    const codes = (await Promise.all(both)).map((result) => result.code ?? -1).sort((a, b) => a - b);
    const listed = await keyrot('list', '--local', '--user', 'cli-race', '--json');

    assert.equal(loser.code, 10, loser.stderr);
    assert.match(loser.stderr, new RegExp(`a rotation of cli-race is already running: ${name}`));
    assert.deepEqual(codes, [7, 10], 'one ran (and was aborted at its first gate), one was refused');
    assert.deepEqual(
      (JSON.parse(listed.stdout) as { name: string }[]).map((execution) => execution.name),
      [name],
    );
    assert.equal((await aws.keys('cli-race')).length, 1, 'nothing was created');
  });

  it('starts exactly one execution when the scan and an operator start the same user together', async () => {
    const machine = await aws.stateMachine('keyrot-race-target');
    await aws.seedUser('cli-raced');
    const asOf = new Date(Date.now() + 91 * 86_400_000).toISOString();
    const operator = keyrot('rotate', 'cli-raced', '--state-machine-arn', machine);
    const scan = await keyrot(
      'scan',
      '--as-of',
      asOf,
      '--unused-days',
      '365',
      '--state-machine-arn',
      machine,
      '--start',
    );
    // An operator who started it would follow it for as long as it runs (moto never ends it):
    // once it has said whether it started or was refused, it is stopped as Ctrl-C would.
    await waitFor(() => (/keyrot: started|already running/.test(operator.stderr()) ? true : undefined));
    operator.stop();
    const rotate = await operator;
    const sfn = new SFNClient({ endpoint: aws.moto.endpoint, region: 'us-east-1', credentials: aws.operator });
    const executions = (await sfn.send(new ListExecutionsCommand({ stateMachineArn: machine }))).executions ?? [];
    const name = executionName('cli-raced', new Date());

    assert.deepEqual(
      executions.filter((execution) => execution.name?.startsWith('cli-raced-')).map((execution) => execution.name),
      [name],
    );
    const scanStarted = scan.stderr.includes(`keyrot: started: ${name}`);
    const scanFound = scan.stderr.includes(`keyrot: already started in this window: ${name}`);
    assert.ok(scanStarted !== scanFound, scan.stderr);
    if (scanStarted) {
      assert.equal(rotate.code, 10, rotate.stderr);
      assert.match(rotate.stderr, new RegExp(`a rotation of cli-raced is already running: ${name}`));
    } else {
      assert.match(rotate.stderr, new RegExp(`keyrot: started \\S+:${name}`));
    }
  });

  it('starts one execution of 20 scan starts of the same user in the same instant', async () => {
    const machine = await aws.stateMachine('keyrot-burst-target');
    const sfn = new SFNClient({ endpoint: aws.moto.endpoint, region: 'us-east-1', credentials: aws.operator });
    const when = new Date();
    const results = await Promise.all(
      Array.from({ length: 20 }, () => startRotation(sfn, machine, { userName: 'cli-burst' }, when)),
    );

    const executions = (await sfn.send(new ListExecutionsCommand({ stateMachineArn: machine }))).executions ?? [];
    assert.equal(executions.length, 1);
    // Each start signs its own requester proof, so the inputs differ: the losers meet ExecutionAlreadyExists.
    assert.equal(results.filter((result) => result.started).length, 1);
    assert.ok(results.every((result) => result.name === executions[0]?.name));
  });
});
