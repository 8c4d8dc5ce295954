import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { afterAll, beforeAll, describe, it } from '@jest/globals';
import { DeleteAccessKeyCommand, DeleteUserCommand, IAMClient } from '@aws-sdk/client-iam';
import type { Clients } from '../../handlers/shared/clients';
import { summarize } from '../../handlers/domain/outcome';
import { causeMessage } from '../../handlers/shared/errors';
import { synthesizeDefinition, type LocalHandlerName, type SynthesizedDefinition } from '../../local/definition';
import type { LocalKey } from '../../local/seed';
import { assertNoSecretIn, injectFault, recordSecrets, type Fault } from '../support/faults';
import { LocalAws } from '../support/local-aws';
import { runRotation } from '../support/rotation-runner';

/**
 * Faults other than a dying Lambda, with the workflow's retries running for real: IAM
 * throttling and failing, a new key STS refuses for its first seconds, Secrets Manager out of
 * reach, SNS failing, and a user or key deleted by someone else in the middle. Retry pauses
 * run at 1/SCALE of the deployed ones (same backoff rate, same full jitter), so the measured
 * pauses are checked against the deployed bounds scaled down.
 */
const SCALE = 20;
/**
 * Timer and event-loop slack allowed on top of a pause's upper bound: a fixed part, and a
 * multiple of what a transition without any pause took in the same run, so a busy machine
 * (slower transitions) does not fail a correct backoff.
 */
const SLACK_MS = 150;
const SLACK_TRANSITIONS = 4;
const config = { validationMode: 'none', graceSeconds: 0 } as const;

interface Retrier {
  ErrorEquals: string[];
  IntervalSeconds: number;
  BackoffRate: number;
  MaxAttempts: number;
  MaxDelaySeconds: number;
  JitterStrategy?: string;
}
type TaskState = { Type: string; Retry?: Retrier[] };
interface Invocation {
  handler: LocalHandlerName;
  start: number;
  end: number;
  error?: string;
}

let aws: LocalAws;
let clients: Clients;
let deployed: SynthesizedDefinition;
let scaled: SynthesizedDefinition;
const secrets: string[] = [];
const emitted: string[] = [];
/** Measured retry pauses against their (scaled) upper bound, across the scenarios. */
const pauses: { state: string; ms: number; capMs: number; transitionMs: number }[] = [];
/** The median time from one handler's success to the next handler's start, in the latest run. */
let transitionMs = 0;
let users = 0;
/** The user the current run rotates and its original key. */
let running: { user: string; original: LocalKey } | undefined;

const states = (definition: SynthesizedDefinition) => definition.definition.States as Record<string, TaskState>;

/** The same definition with every retry interval and maximum delay divided by `SCALE`. */
function scaledDown(definition: SynthesizedDefinition): SynthesizedDefinition {
  // A JSON copy, not structuredClone: under jest that global comes from outside the test's realm,
  // and objects of another realm fail the handlers' input schemas.
  const copy = JSON.parse(JSON.stringify(definition)) as SynthesizedDefinition;
  for (const state of Object.values(states(copy))) {
    for (const retrier of state.Retry ?? []) {
      retrier.IntervalSeconds /= SCALE;
      retrier.MaxDelaySeconds /= SCALE;
    }
  }
  return copy;
}

/** The upper bound of the k-th pause (0-based) of a retrier: full jitter draws from [0, this]. */
const capSeconds = (retrier: Retrier, k: number) =>
  Math.min(retrier.IntervalSeconds * retrier.BackoffRate ** k, retrier.MaxDelaySeconds);

interface Scenario {
  /** A fault armed on one of the shared clients for the run. */
  fault?: { client: 'iam' | 'sns' } & Fault;
  /** Runs before each handler invocation, with how many times that handler ran before. */
  before?: (handler: LocalHandlerName, runs: number, user: string) => Promise<void> | void;
  decision?: 'APPROVED' | 'none';
  onCreate?: (keyId: string) => void;
}

/** A rotation of a fresh user with real (scaled) retry pauses, every handler invocation timed. */
async function rotate(scenario: Scenario = {}) {
  const user = `faulty-${(users += 1)}`;
  const original = await aws.seedUser(user);
  secrets.push(original.secretAccessKey);
  running = { user, original };
  const disarm = scenario.fault ? injectFault(clients[scenario.fault.client], scenario.fault) : () => {};
  const invocations: Invocation[] = [];
  const execution = await runRotation(
    { userName: user, force: true, config },
    {
      definition: scaled,
      waits: 'real',
      decision: scenario.decision ?? 'APPROVED',
      around: async (handler, invoke) => {
        await scenario.before?.(handler, invocations.filter((i) => i.handler === handler).length, user);
        const entry: Invocation = { handler, start: Date.now(), end: 0 };
        invocations.push(entry);
        try {
          return await invoke();
        } catch (error) {
          entry.error = (error as Error).name;
          throw error;
        } finally {
          entry.end = Date.now();
        }
      },
    },
  ).finally(disarm);
  emitted.push(JSON.stringify(execution));
  const gaps = invocations
    .slice(1)
    .flatMap((next, i) => (invocations[i]!.error === undefined ? [next.start - invocations[i]!.end] : []))
    .sort((a, b) => a - b);
  // A run of failures only has no such transition: the previous run's measure stands.
  if (gaps.length > 0) transitionMs = gaps[Math.floor(gaps.length / 2)] ?? 0;
  const outcome = summarize(execution.events).outcome;
  const runs = (handler: LocalHandlerName) => invocations.filter((i) => i.handler === handler);
  return { user, original, execution, outcome, runs };
}

/**
 * The pauses between a handler's failed invocations and its next try, each within the bound
 * the (scaled) retrier that matched its error allows.
 */
function checkPauses(state: string, runs: Invocation[]): number[] {
  const retriers = states(scaled)[state]?.Retry ?? [];
  const used = new Map<Retrier, number>();
  const measured: number[] = [];
  for (let n = 1; n < runs.length; n += 1) {
    const failed = runs[n - 1]!;
    const retrier = retriers.find((r) => r.ErrorEquals.includes(failed.error ?? ''));
    assert.ok(retrier, `${state}: ${failed.error} was retried by a retrier of the definition`);
    const k = used.get(retrier) ?? 0;
    used.set(retrier, k + 1);
    const ms = runs[n]!.start - failed.end;
    const capMs = capSeconds(retrier, k) * 1000;
    const slackMs = SLACK_MS + SLACK_TRANSITIONS * transitionMs;
    assert.ok(ms <= capMs + slackMs, `${state}: pause ${n} was ${ms} ms, bound ${capMs} ms (+${slackMs} ms slack)`);
    pauses.push({ state, ms, capMs, transitionMs });
    measured.push(ms);
  }
  return measured;
}

/** The invariants the fault matrix checks, for one user after a run. */
async function keysAndSecret(user: string) {
  const current = await aws.secretKey(user, 'AWSCURRENT');
  return {
    keys: await aws.keys(user),
    current: current?.accessKeyId,
    currentWorks: current ? (await aws.whoIs(current)) === `arn:aws:iam::123456789012:user/${user}` : false,
  };
}

/** The user is back where it started: the original key alone, current in the secret, working. */
async function assertBackOnOriginal(run: { user: string; original: LocalKey }): Promise<void> {
  const after = await keysAndSecret(run.user);
  assert.deepEqual(after.keys, [{ id: run.original.accessKeyId, status: 'Active' }], 'only the original key is left');
  assert.equal(after.current, run.original.accessKeyId);
  assert.ok(after.currentWorks);
}

/**
 * STS refuses (InvalidClientTokenId) every key but the user's original while `refusing()`
 * holds, as it does for a key IAM has not propagated yet.
 */
async function withNewKeysRefused<T>(refusing: () => boolean, body: () => Promise<T>): Promise<T> {
  const stsFor = clients.stsFor;
  clients.stsFor = (credentials) => {
    const sts = stsFor(credentials);
    if (credentials.accessKeyId !== running?.original.accessKeyId && refusing()) {
      injectFault(sts, { command: 'GetCallerIdentityCommand', when: 'before', error: 'InvalidClientTokenId' });
    }
    return sts;
  };
  try {
    return await body();
  } finally {
    clients.stsFor = stsFor;
  }
}

/** A port nothing listens on: connections to it are refused at once. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe('faults beyond a dying Lambda', () => {
  let outage = false;

  beforeAll(async () => {
    aws = await LocalAws.start();
    ({ clients } = await import('../../handlers/shared/clients'));
    deployed = await synthesizeDefinition();
    scaled = scaledDown(deployed);
    recordSecrets(clients.iam, secrets);
    // Secrets Manager out of reach: while `outage` is on, its requests go to a closed port, so
    // the SDK meets a real ECONNREFUSED and runs its own retries before giving up.
    const port = await closedPort();
    const stack = (clients.secrets as unknown as { middlewareStack: { add: (m: never, o: object) => void } })
      .middlewareStack;
    const unreachable =
      (next: (args: { request: { port?: number } }) => Promise<unknown>) => (args: { request: { port?: number } }) => {
        if (outage) args.request.port = port;
        return next(args);
      };
    stack.add(unreachable as never, { step: 'finalizeRequest', name: 'keyrot-test-outage' });
  });
  afterAll(async () => aws?.stop());

  it('gives every task a bounded retry with backoff and full jitter for throttling and service failures', () => {
    const rows: string[] = [];
    for (const [name, state] of Object.entries(states(deployed))) {
      if (state.Type !== 'Task') continue;
      const retriers = state.Retry ?? [];
      for (const error of ['Throttling', 'ServiceFailure', 'ServiceUnavailable', 'InternalServiceError']) {
        assert.ok(
          retriers.some((r) => r.ErrorEquals.includes(error)),
          `${name} retries ${error}`,
        );
      }
      for (const retrier of retriers) {
        // Not a transient: a fixed, bounded wait for a consumer to stop using the old key.
        if (retrier.ErrorEquals.join() === 'OldKeyStillInUse') {
          assert.ok(
            retrier.IntervalSeconds * retrier.MaxAttempts <= 3600,
            `${name} waits at most an hour for the consumer`,
          );
          continue;
        }
        assert.equal(retrier.JitterStrategy, 'FULL', `${name} jitters`);
        assert.ok(retrier.BackoffRate >= 2 && retrier.MaxDelaySeconds <= 60, `${name} backs off, at most 60 s a pause`);
        const worst = Array.from({ length: retrier.MaxAttempts }, (_, k) => capSeconds(retrier, k)).reduce(
          (a, b) => a + b,
        );
        const budget = name === 'Roll Back' ? 362 : 195;
        assert.ok(worst <= budget, `${name}: at most ${budget} s of pauses before giving up (${worst} s)`);
        rows.push(
          `# ${name.padEnd(26)} ${retrier.ErrorEquals.slice(0, 2).join(',').padEnd(38)} ${String(retrier.MaxAttempts).padStart(2)} retries, pauses ≤ ${Array.from({ length: retrier.MaxAttempts }, (_, k) => capSeconds(retrier, k)).join('+')} = ${worst} s`,
        );
      }
    }
    process.stdout.write(`# retry budget per task state (deployed values)\n${[...new Set(rows)].join('\n')}\n`);
  });

  it('rides out IAM throttling at CreateAccessKey with growing, jittered pauses', async () => {
    const run = await rotate({
      fault: {
        client: 'iam',
        command: 'CreateAccessKeyCommand',
        when: 'before',
        error: 'Throttling',
        times: 3,
      },
    });

    assert.equal(run.outcome, 'ROTATED');
    assert.deepEqual(
      run.runs('create-key').map((r) => r.error ?? 'ok'),
      ['Throttling', 'Throttling', 'Throttling', 'ok'],
    );
    checkPauses('Create Access Key', run.runs('create-key'));
    const after = await keysAndSecret(run.user);
    assert.equal(after.keys.length, 1);
    assert.ok(after.currentWorks);
  });

  it('rolls back cleanly when IAM ServiceFailure outlasts the retries (each try had created a key)', async () => {
    const run = await rotate({
      fault: {
        client: 'iam',
        command: 'CreateAccessKeyCommand',
        when: 'after',
        error: 'ServiceFailure',
        times: 1_000,
      },
    });

    assert.equal(run.outcome, 'ROLLED_BACK');
    assert.equal(run.runs('create-key').length, 5, 'one try and four retries');
    checkPauses('Create Access Key', run.runs('create-key'));
    await assertBackOnOriginal(run);
  });

  it('fails detection cleanly when IAM throttles for good, having changed nothing', async () => {
    const run = await rotate({
      fault: {
        client: 'iam',
        command: 'GetUserCommand',
        when: 'before',
        error: 'Throttling',
        times: 1_000,
      },
    });

    assert.equal(run.execution.status, 'FAILED');
    assert.equal(run.execution.error, 'Throttling');
    assert.equal(run.runs('detect-keys').length, 5);
    checkPauses('Detect Keys', run.runs('detect-keys'));
    assert.deepEqual(
      (await aws.keys(run.user)).map((k) => k.id),
      [run.original.accessKeyId],
    );
    assert.deepEqual(run.runs('create-key'), []);
  });

  it('waits out STS refusing a new key for its first moments (eventual consistency), then rotates', async () => {
    const windowMs = 500; // 10 s deployed
    // The window opens at the key's first use, not at its creation: however slowly this machine
    // gets from Create Access Key to Verify New Key, the first verification meets a young key.
    let firstUse: number | undefined;
    const refusedAt: number[] = [];
    const young = () => {
      firstUse ??= Date.now();
      const refusing = Date.now() < firstUse + windowMs;
      if (refusing) refusedAt.push(Date.now() - firstUse);
      return refusing;
    };
    const run = await withNewKeysRefused(young, () => rotate());

    assert.equal(run.outcome, 'ROTATED');
    const verify = run.runs('verify-key');
    assert.ok(verify.length >= 2, `verified on try ${verify.length}`);
    assert.ok(verify.slice(0, -1).every((r) => r.error === 'NewKeyNotValid'));
    assert.ok(refusedAt.every((ms) => ms < windowMs));
    checkPauses('Verify New Key', verify);
  });

  it('rolls back after the eventual-consistency budget when STS never accepts the new key', async () => {
    const run = await withNewKeysRefused(
      () => true,
      () => rotate(),
    );

    assert.equal(run.outcome, 'ROLLED_BACK');
    assert.equal(run.runs('verify-key').length, 7, 'one try and six retries');
    checkPauses('Verify New Key', run.runs('verify-key'));
    await assertBackOnOriginal(run);
  });

  it('retries Distribute Key while Secrets Manager is out of reach, then rotates', async () => {
    const run = await rotate({
      before: (handler, runs) => {
        if (handler === 'distribute-key') outage = runs === 0;
      },
    }).finally(() => (outage = false));

    assert.equal(run.outcome, 'ROTATED');
    assert.deepEqual(
      run.runs('distribute-key').map((r) => r.error ?? 'ok'),
      ['ServiceUnavailable', 'ok'],
    );
    checkPauses('Distribute Key', run.runs('distribute-key'));
    assert.ok((await keysAndSecret(run.user)).currentWorks);
  });

  it('rolls back when Secrets Manager stays out of reach through distribution and comes back during the rollback', async () => {
    const run = await rotate({
      before: (handler, runs) => {
        if (handler === 'distribute-key' && runs === 0) outage = true;
        if (handler === 'roll-back' && runs === 1) outage = false;
      },
    }).finally(() => (outage = false));

    assert.equal(run.outcome, 'ROLLED_BACK');
    assert.equal(run.runs('distribute-key').length, 5);
    assert.deepEqual(
      run.runs('roll-back').map((r) => r.error ?? 'ok'),
      ['ServiceUnavailable', 'ok'],
    );
    checkPauses('Roll Back', run.runs('roll-back'));
    await assertBackOnOriginal(run);
    assert.match(
      causeMessage(run.execution.cause) ?? '',
      /AWS could not be reached after \d attempt\(s\): ECONNREFUSED/,
    );
  });

  it('raises ROLLBACK_FAILED when Secrets Manager never comes back: the user keeps the working original', async () => {
    const run = await rotate({
      before: (handler) => {
        if (handler === 'distribute-key') outage = true;
      },
    }).finally(() => (outage = false));

    assert.equal(run.outcome, 'ROLLBACK_FAILED');
    assert.equal(run.runs('roll-back').length, 11, 'the rollback tried once and ten times more');
    checkPauses('Roll Back', run.runs('roll-back'));
    assert.match(causeMessage(run.execution.cause) ?? '', /AWS could not be reached.*ECONNREFUSED/);
    const after = await keysAndSecret(run.user);
    assert.equal(after.current, run.original.accessKeyId, 'the secret was never changed');
    assert.ok(after.currentWorks);
    // Without Secrets Manager keyrot cannot tell whether a consumer holds the new key, so it
    // is left for the human the alarm calls; it is the only other key.
    assert.equal(after.keys.length, 2);
    assert.ok(after.keys.some((k) => k.id === run.original.accessKeyId && k.status === 'Active'));
  });

  it('never fails a rotation because notifications fail, and records that they did', async () => {
    const run = await rotate({
      fault: {
        client: 'sns',
        command: 'PublishCommand',
        when: 'before',
        error: 'AuthorizationErrorException',
        times: 1_000,
      },
    });

    assert.equal(run.outcome, 'ROTATED');
    assert.match(JSON.stringify(run.execution.events), /\\"notifyError\\":\\"AuthorizationErrorException\\"/);
  });

  it('ends with a clear cause when the user is deleted while the deletion approval waits', async () => {
    const iam = new IAMClient({ endpoint: aws.moto.endpoint, region: 'us-east-1', credentials: aws.operator });
    const run = await rotate({
      before: async (handler, runs, user) => {
        if (handler !== 'check-approval' || runs > 0) return;
        for (const key of await aws.keys(user)) {
          await iam.send(new DeleteAccessKeyCommand({ UserName: user, AccessKeyId: key.id }));
        }
        await iam.send(new DeleteUserCommand({ UserName: user }));
      },
    });

    assert.equal(run.outcome, 'ROLLBACK_FAILED');
    assert.match(causeMessage(run.execution.cause) ?? '', new RegExp(`user ${run.user} no longer exists`));
    await assert.rejects(aws.keys(run.user), { name: 'NoSuchEntityException' });
    const { pendingApprovals } = await import('../../handlers/domain/approvals');
    const { settings } = await import('../../handlers/shared/clients');
    assert.deepEqual(await pendingApprovals(clients, settings(), run.execution.executionArn), []);
  });

  it('rolls back at once, naming it, when someone deletes the new key before it is verified', async () => {
    const iam = new IAMClient({ endpoint: aws.moto.endpoint, region: 'us-east-1', credentials: aws.operator });
    let deleted = '';
    const run = await rotate({
      before: async (handler, runs, user) => {
        if (handler !== 'verify-key' || runs > 0) return;
        deleted = (await aws.secretKey(user))?.accessKeyId ?? '';
        await iam.send(new DeleteAccessKeyCommand({ UserName: user, AccessKeyId: deleted }));
      },
    });

    assert.equal(run.outcome, 'ROLLED_BACK');
    assert.equal(run.runs('verify-key').length, 1, 'no eventual-consistency wait for a key that is gone');
    assert.match(
      run.execution.cause ?? '',
      new RegExp(`new key ${deleted} no longer exists: it was deleted outside keyrot`),
    );
    await assertBackOnOriginal(run);
  });

  it('stops with a clear cause when someone deletes the old key while the deletion approval waits', async () => {
    const iam = new IAMClient({ endpoint: aws.moto.endpoint, region: 'us-east-1', credentials: aws.operator });
    const run = await rotate({
      before: async (handler, runs, user) => {
        if (handler !== 'check-approval' || runs > 0) return;
        const old = (await aws.secretKey(user, 'AWSPREVIOUS'))?.accessKeyId ?? '';
        await iam.send(new DeleteAccessKeyCommand({ UserName: user, AccessKeyId: old }));
      },
    });

    assert.equal(run.outcome, 'ROLLBACK_FAILED');
    assert.match(
      causeMessage(run.execution.cause) ?? '',
      new RegExp(
        `old key ${run.original.accessKeyId} no longer exists, so it cannot be restored; the new key \\w+ is kept`,
      ),
    );
    const after = await keysAndSecret(run.user);
    assert.equal(after.keys.length, 1, 'only the new key');
    assert.equal(after.current, after.keys[0]?.id);
    assert.ok(after.currentWorks, 'the user works on the new key');
  });

  it('jittered: the measured pauses spread below their bounds rather than sitting on them', () => {
    process.stdout.write(
      `# ${pauses.length} retry pauses measured (ms / bound ms): ${pauses.map((p) => `${p.ms}/${p.capMs}`).join(' ')}\n`,
    );
    assert.ok(pauses.length >= 20, `${pauses.length} pauses`);
    assert.ok(
      // What a transition costs anyway is not part of the drawn pause.
      pauses.some((p) => p.ms - p.transitionMs < 0.75 * p.capMs),
      'with full jitter, some pauses are well below their bound',
    );
  });

  it('lets no secret access key into any history, output or log of these runs', () => {
    assertNoSecretIn(emitted.join('\n'), secrets, 20);
  });
});
