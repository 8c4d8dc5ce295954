import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ListExecutionsCommand, SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import { executionName, startRotation } from '../../handlers/domain/start-rotation';
import { LocalAws } from '../support/local-aws';

const BIN = path.resolve(import.meta.dirname, '../../bin/keyrot.js');
let aws: LocalAws;
const home = mkdtempSync(path.join(tmpdir(), 'keyrot-cli-'));

/** What the last started command has written so far. */
const live = { stderr: '' };

/** Poll (bounded) until `probe` returns a value. */
async function waitFor<T>(probe: () => T | undefined | Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting; the command wrote: ${live.stderr}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

type Finished = { code: number | null; stdout: string; stderr: string };

/**
 * Run the keyrot command as an operator would, with a bounded time; a last object arg adds
 * env. `stop()` ends it early, as Ctrl-C would.
 */
function keyrot(...args: (string | Record<string, string>)[]): Promise<Finished> & { stop: () => void } {
  const extra = typeof args.at(-1) === 'object' ? (args.pop() as Record<string, string>) : {};
  let stop = () => {};
  const finished = new Promise<Finished>((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...(args as string[])], {
      env: { ...process.env, KEYROT_HOME: home, ...extra },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    live.stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
      live.stderr = stderr;
    });
    stop = () => child.kill('SIGINT');
    const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
  return Object.assign(finished, { stop: () => stop() });
}

/** A `keyrot rotate --local --json` of a fresh user, once it waits at the deletion gate with its link printed. */
async function rotationAtDeletionGate(user: string) {
  await aws.seedUser(user);
  const rotation = keyrot('rotate', user, '--local', '--force', '--validation', 'none', '--skip-waits', '--json');
  const link = await waitFor(() => /open (http:\/\/127\.0\.0\.1:\d+\/approvals\/\S+)/.exec(live.stderr)?.[1]);
  return { rotation, link };
}

before(async () => {
  aws = await LocalAws.start();
});
after(async () => aws?.stop());

describe('keyrot rotate', () => {
  it('rotates locally and prints one JSON object with the outcome and both key ids', async () => {
    const old = await aws.seedUser('cli-user');

    const run = await keyrot(
      'rotate',
      'cli-user',
      '--local',
      '--force',
      '--json',
      '--auto-approve',
      'quality-approver',
      '--validation',
      'none',
      '--skip-waits',
      '--requested-by',
      'ops',
    );

    assert.equal(run.code, 0, run.stderr);
    const result = JSON.parse(run.stdout) as Record<string, string>;
    assert.equal(result.outcome, 'ROTATED');
    assert.equal(result.user, 'cli-user');
    assert.equal(result.oldKeyId, old.accessKeyId);
    assert.equal((await aws.secretKey('cli-user'))?.accessKeyId, result.newKeyId);
    assert.match(result.executionId ?? '', /^arn:aws:states:.*:execution:Keyrot-Rotation:/);
    const history = JSON.parse(readFileSync(result.history ?? '', 'utf8')) as { events: { type: string }[] };
    assert.equal(history.events[0]?.type, 'ExecutionStarted');
    assert.equal(history.events.at(-1)?.type, 'ExecutionSucceeded');
    const everything =
      run.stdout +
      run.stderr +
      readFileSync(result.history ?? '', 'utf8') +
      readFileSync((result.history ?? '').replace(/\.json$/, '.log.jsonl'), 'utf8');
    assert.equal(everything.includes(old.secretAccessKey), false);
    assert.equal(everything.includes((await aws.secretKey('cli-user'))?.secretAccessKey ?? '-'), false);
  });

  it('shows progress step by step without --json', async () => {
    await aws.seedUser('cli-progress');

    const run = await keyrot(
      'rotate',
      'cli-progress',
      '--local',
      '--force',
      '--no-deletion-approval',
      '--validation',
      'none',
      '--skip-waits',
    );

    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stderr, /\+\d+\.\d\ds {2}Create Access Key/);
    assert.match(run.stdout, /^ROTATED {2}cli-progress: AKIA\w+ -> AKIA\w+/);
  });

  it('exits 0 with SKIPPED when the key is not due', async () => {
    await aws.seedUser('cli-fresh');

    const run = await keyrot('rotate', 'cli-fresh', '--local', '--json', '--no-deletion-approval');

    assert.equal(run.code, 0);
    assert.equal(JSON.parse(run.stdout).outcome, 'SKIPPED');
  });

  it('refuses a bad user name with exit 2, a clear message and no stack trace, before any AWS call', async () => {
    const run = await keyrot('rotate', 'no spaces allowed', '--local', '--auto-approve', 'qa');

    assert.equal(run.code, 2);
    assert.match(run.stderr, /keyrot: invalid request: userName: userName may only hold letters/);
    assert.doesNotMatch(run.stderr, /\n\s+at /);
    assert.equal(run.stdout, '');
  });

  it('waits at the deletion gate with a link, and `keyrot approve` signs it from another terminal', async () => {
    const { rotation, link } = await rotationAtDeletionGate('cli-gated');

    const listed = await keyrot('approvals', '--json');
    const waitingList = JSON.parse(listed.stdout) as Record<string, unknown>[];
    assert.ok(
      waitingList.some((approval) => approval.userName === 'cli-gated' && approval.state === 'Approve Deletion'),
    );
    assert.equal(listed.stdout.includes('taskToken'), false, 'the task token stays server-side');

    const refused = await keyrot('approve', link, '--as', 'quality-approver', '--reason', 'x', '--json', {
      KEYROT_APPROVER_PASSWORD: 'wrong',
    });
    const signed = await keyrot('approve', link, '--as', 'quality-approver', '--reason', 'CR-1042 reviewed', {
      KEYROT_APPROVER_PASSWORD: 'Demo-Approver-1!',
    });
    const done = await rotation;

    assert.equal(refused.code, 5);
    assert.match(JSON.parse(refused.stdout).message, /Wrong user name or password\. 2 attempt\(s\) left/);
    assert.equal(signed.code, 0, signed.stderr);
    assert.match(signed.stdout, /^APPROVED by Quinn Avery \(QA Lead\) at \S+Z: CR-1042 reviewed/);
    assert.equal(done.code, 0, done.stderr);
    assert.equal(JSON.parse(done.stdout).outcome, 'ROTATED');
  });

  it('names an unknown user and exits 2', async () => {
    const run = await keyrot('rotate', 'ghost', '--local', '--json', '--no-deletion-approval', '--force');

    assert.equal(run.code, 2);
    const result = JSON.parse(run.stdout);
    assert.equal(result.outcome, 'FAILED');
    assert.match(result.reason, /^UserNotFound: IAM user ghost does not exist$/);
  });

  it('explains itself in --help, with examples and exit codes', async () => {
    const run = await keyrot('rotate', '--help');

    assert.equal(run.code, 0);
    assert.match(run.stdout, /Examples:/);
    assert.match(run.stdout, /5 ROLLED_BACK/);
  });

  it('explains every command in --help, with examples', async () => {
    for (const command of ['status', 'list', 'abort', 'audit', 'verify', 'report']) {
      const run = await keyrot(command, '--help');

      assert.equal(run.code, 0, command);
      assert.match(run.stdout, /Examples:/, command);
      assert.match(run.stdout, /--region <region>/, command);
      assert.match(run.stdout, /--profile <profile>/, command);
    }
  });
});

/** The local execution of a user that is running now, from `keyrot list`. */
async function runningExecution(user: string): Promise<string> {
  return waitFor(async () => {
    const listed = await keyrot('list', '--local', '--status', 'RUNNING', '--user', user, '--json');
    return (JSON.parse(listed.stdout || '[]') as { name: string }[])[0]?.name;
  });
}

describe('operating and auditing rotations', () => {
  it('refuses a second rotation of a user while one runs, naming it; status, list, abort and audit see it', async () => {
    await aws.seedUser('cli-locked');
    const first = keyrot('rotate', 'cli-locked', '--local', '--force', '--rotation-approval', '--skip-waits', '--json');
    await waitFor(() => (/Approve Rotation: waiting for a signature/.test(live.stderr) ? true : undefined));
    const name = await runningExecution('cli-locked');

    const second = await keyrot('rotate', 'cli-locked', '--local', '--force', '--json');
    const status = await keyrot('status', name, '--local', '--json');
    const aborted = await keyrot('abort', name, '--local', '--reason', 'CR-7 withdrawn', '--as', 'olu');
    const done = await first;
    const audit = await keyrot('audit', name, '--local', '--format', 'json');

    assert.equal(second.code, 10);
    assert.match(second.stderr, new RegExp(`a rotation of cli-locked is already running: ${name}`));
    assert.equal(second.stdout, '');
    const now = JSON.parse(status.stdout);
    assert.equal(now.status, 'RUNNING');
    assert.equal(now.currentStep.state, 'Approve Rotation');
    assert.equal(now.waitingForApproval, true);
    assert.equal(aborted.code, 0, aborted.stderr);
    assert.match(aborted.stdout, /^ABORTED/);
    assert.equal(JSON.parse(done.stdout).outcome, 'ABORTED');
    assert.equal(done.code, 7);
    const replayed = JSON.parse(audit.stdout);
    assert.equal(audit.code, 0, audit.stderr);
    assert.equal(replayed.outcome, 'ABORTED');
    assert.equal(replayed.reason, 'keyrot.Aborted: aborted by olu: CR-7 withdrawn');
    assert.deepEqual(await aws.keys('cli-locked'), [
      { id: (await aws.secretKey('cli-locked'))?.accessKeyId, status: 'Active' },
    ]);
  });

  it('refuses to abort once the new key exists, pointing at keyrot reject, unless forced', async () => {
    const { rotation } = await rotationAtDeletionGate('cli-late-abort');
    const name = await runningExecution('cli-late-abort');

    const refused = await keyrot('abort', name, '--local', '--reason', 'stop');
    const forced = await keyrot('abort', name, '--local', '--reason', 'stop', '--force');
    await rotation;

    assert.equal(refused.code, 2);
    assert.match(refused.stderr, /has created AKIA\w+; aborting now skips the rollback.*reject it instead/);
    assert.equal(forced.code, 0, forced.stderr);
    assert.equal((await aws.keys('cli-late-abort')).length, 2, 'forced: both keys remain, as the warning said');
  });

  it('archives every local run, and keyrot verify walks the chains', async () => {
    const run = await keyrot('verify', '--json');

    assert.equal(run.code, 0, run.stdout);
    const report = JSON.parse(run.stdout);
    assert.deepEqual(report.findings, []);
    assert.ok(report.records >= 4, `${report.records} records`);
    assert.ok(report.chains.some((chain: { user: string }) => chain.user === 'cli-locked'));
  });

  it('writes the replay as one self-contained HTML file and lists a user’s rotations', async () => {
    const file = path.join(home, 'audit.html');
    const [latest] = JSON.parse((await keyrot('list', '--local', '--user', 'cli-user', '--json')).stdout);

    const html = await keyrot('audit', latest.name, '--local', '--format', 'html', '--output', file);
    const history = await keyrot('audit', '--user', 'cli-locked', '--local', '--json');

    assert.equal(html.code, 0, html.stderr);
    assert.ok(existsSync(file));
    const page = readFileSync(file, 'utf8');
    assert.match(page, /<svg[^>]*role="img"/);
    assert.doesNotMatch(page, /<script|https?:\/\/(?!www\.w3\.org)/);
    const rotations = JSON.parse(history.stdout) as { outcome: string }[];
    assert.deepEqual(
      rotations.map((rotation) => rotation.outcome),
      ['ABORTED'],
    );
  });

  it('gives the fleet view from the credential report, with the last rotation from the archive', async () => {
    const asOf = new Date(Date.now() + 91 * 86_400_000).toISOString();

    const run = await keyrot('report', '--as-of', asOf, '--format', 'json');

    assert.equal(run.code, 3, 'someone is overdue');
    const rows = JSON.parse(run.stdout) as {
      user: string;
      overdue: boolean;
      lastRotation: { outcome: string } | null;
    }[];
    const rotated = rows.find((row) => row.user === 'cli-user');
    assert.equal(rotated?.lastRotation?.outcome, 'ROTATED');
    assert.equal(rows.find((row) => row.user === 'cli-locked')?.lastRotation, null);
    assert.ok(rows.every((row) => row.overdue));
  });

  it('works the same against a deployed state machine: the lock, list, status and abort through the Step Functions API', async () => {
    const sfn = new SFNClient({ endpoint: aws.moto.endpoint, region: 'us-east-1', credentials: aws.operator });
    const arn = await aws.stateMachine('keyrot-deployed');
    const name = executionName('svc.deployed', new Date());
    await sfn.send(
      new StartExecutionCommand({ stateMachineArn: arn, name, input: JSON.stringify({ userName: 'svc.deployed' }) }),
    );

    const second = await keyrot('rotate', 'svc.deployed', '--state-machine-arn', arn, '--json');
    const listed = await keyrot('list', '--user', 'svc.deployed', '--state-machine-arn', arn, '--json');
    const status = await keyrot('status', name, '--state-machine-arn', arn, '--json');
    const aborted = await keyrot('abort', name, '--state-machine-arn', arn, '--reason', 'test', '--json');

    assert.equal(second.code, 10);
    assert.match(second.stderr, new RegExp(`already running: ${name}`));
    assert.match(name, /^svc_2edeployed-\d{8}$/);
    assert.deepEqual(
      (JSON.parse(listed.stdout) as { name: string; user: string }[]).map((e) => [e.name, e.user]),
      [[name, 'svc.deployed']],
    );
    assert.equal(JSON.parse(status.stdout).status, 'RUNNING');
    assert.equal(aborted.code, 0, aborted.stderr);
    assert.equal(JSON.parse(aborted.stdout).status, 'ABORTED');
  });
});

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
    // An operator who started it would follow it for as long as it runs (moto never ends it).
    const stopping = setTimeout(() => operator.stop(), 5_000);
    const rotate = await operator;
    clearTimeout(stopping);
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
      Array.from({ length: 20 }, (_, i) =>
        startRotation(sfn, machine, { userName: 'cli-burst' }, when, i % 2 ? 'keyrot scan' : 'scheduled scan'),
      ),
    );

    const executions = (await sfn.send(new ListExecutionsCommand({ stateMachineArn: machine }))).executions ?? [];
    assert.equal(executions.length, 1);
    // Step Functions answers a start with the same name and input with the running execution,
    // so starts within one second cannot tell theirs from the other's; both say started.
    assert.ok(results.some((result) => result.started));
    assert.ok(results.every((result) => result.name === executions[0]?.name));
  });
});

describe('keyrot scan', () => {
  it('judges every user with keys, exits 3 when some are due, and --start starts each once per day', async () => {
    const machine = await aws.stateMachine('keyrot-scan-target');
    await aws.seedUser('cli-scanned');
    const asOf = new Date(Date.now() + 91 * 86_400_000).toISOString();
    const args = ['scan', '--as-of', asOf, '--unused-days', '365', '--state-machine-arn', machine];

    const json = await keyrot(...args, '--format', 'json');
    const first = await keyrot(...args, '--start');
    const second = await keyrot(...args, '--start');

    assert.equal(json.code, 3, json.stderr);
    const users = JSON.parse(json.stdout) as { user: string; verdict: string; account: string }[];
    assert.equal(users.find((user) => user.user === 'cli-scanned')?.verdict, 'DUE');
    assert.equal(users.find((user) => user.user === 'keyrot-operator')?.verdict, 'EXEMPT');
    const due = users.filter((user) => user.verdict === 'DUE').length;
    assert.match(first.stdout, new RegExp(`${due} DUE`));
    assert.equal((first.stderr.match(/keyrot: started: /g) ?? []).length, due);
    assert.equal((second.stderr.match(/keyrot: started: /g) ?? []).length, 0);
    assert.equal((second.stderr.match(/already started in this window/g) ?? []).length, due);
  });
});
