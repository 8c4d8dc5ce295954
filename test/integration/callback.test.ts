import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, it } from '@jest/globals';
import { confirmationId } from '../../handlers/domain/confirmation';
import { signGetCallerIdentity, stsEndpoint, type SignedRequest } from '../../handlers/domain/sts-proof';
import { startApprovalServer, type ApprovalServer } from '../../local/approval-server';
import { LocalTaskTokens, type LocalExecution } from '../../local/engine';
import { cliSession } from '../support/cli';
import { assertNoSecretIn, recordSecrets } from '../support/faults';
import { LocalAws } from '../support/local-aws';
import { runRotation, statesEntered } from '../support/rotation-runner';

// The handlers' clients read the environment LocalAws sets, so they are imported after it.
let aws: LocalAws;
let server: ApprovalServer;
const tokens = new LocalTaskTokens();
const secretsSeen: string[] = [];
const emitted: string[] = [];
const cli = cliSession(() => aws);
const CALLBACK = { validationMode: 'callback' } as const;

/** POST a signed request to the confirmation endpoint of an execution; the answer is kept for the leak search. */
async function prove(executionArn: string, signed: SignedRequest | string) {
  const response = await fetch(`${server.url}/confirm/${confirmationId(executionArn)}`, {
    method: 'POST',
    headers: { accept: 'application/json', 'content-type': 'application/json' },
    body: typeof signed === 'string' ? signed : JSON.stringify(signed),
    signal: AbortSignal.timeout(120_000),
  });
  const answer = (await response.json()) as { status: number; message: string };
  emitted.push(JSON.stringify(answer));
  return answer;
}

/** What the confirmation endpoint says of an execution's wait (GET changes nothing). */
async function waiting(executionArn: string) {
  const response = await fetch(`${server.url}/confirm/${confirmationId(executionArn)}`, {
    headers: { accept: 'application/json' },
    signal: AbortSignal.timeout(120_000),
  });
  return (await response.json()) as { status: number; message: string; confirmation?: { status: string } };
}

const sign = (key: { accessKeyId: string; secretAccessKey: string }, clockOffsetMs = 0) =>
  signGetCallerIdentity(key, stsEndpoint(), 'us-east-1', { systemClockOffset: clockOffsetMs });

describe('callback validation: the consumer proves possession of the new key', () => {
  beforeAll(async () => {
    aws = await LocalAws.start();
    const { clients } = await import('../../handlers/shared/clients');
    recordSecrets(clients.iam, secretsSeen);
    server = await startApprovalServer(tokens);
  });
  afterAll(async () => {
    await server?.stop();
    await aws?.stop();
  });

  it('rotates when keyrot confirm (a subprocess) sends a GetCallerIdentity signed with the new key', async () => {
    // Prepare
    const old = await aws.seedUser('cb-happy');
    secretsSeen.push(old.secretAccessKey);

    // Act
    const rotation = cli.keyrot(
      'rotate',
      'cb-happy',
      '--local',
      '--force',
      '--validation',
      'callback',
      '--no-deletion-approval',
      '--skip-waits',
      '--json',
    );
    const name = await cli.waitFor(() => /keyrot confirm (\S+) --local/.exec(cli.live.stderr)?.[1]);
    const confirmed = await cli.keyrot('confirm', name, '--local');
    const finished = await rotation;

    // Assess
    assert.equal(confirmed.code, 0, confirmed.stderr);
    assert.match(confirmed.stdout, /Confirmed: arn:aws:iam::123456789012:user\/cb-happy runs on AKIA/);
    assert.equal(finished.code, 0, finished.stderr);
    const result = JSON.parse(finished.stdout) as { outcome: string; newKeyId: string; history: string };
    assert.equal(result.outcome, 'ROTATED');
    const current = await aws.secretKey('cb-happy');
    assert.equal(current?.accessKeyId, result.newKeyId);
    secretsSeen.push(current?.secretAccessKey ?? '');
    assert.equal(await aws.whoIs(current!), 'arn:aws:iam::123456789012:user/cb-happy');
    assert.equal(await aws.whoIs(old), 'InvalidClientTokenId');
    const history = readFileSync(result.history, 'utf8');
    assert.match(history, /Wait For Consumer/);
    const files = readdirSync(path.dirname(result.history)).map((file) =>
      readFileSync(path.join(path.dirname(result.history), file), 'utf8'),
    );
    emitted.push(finished.stdout, finished.stderr, confirmed.stdout, confirmed.stderr, ...files);
  });

  it('refuses forged proofs with their reason while the execution keeps waiting, then accepts the real one', async () => {
    // Prepare
    const old = await aws.seedUser('cb-forged');
    const other = await aws.seedUser('cb-other');
    secretsSeen.push(old.secretAccessKey, other.secretAccessKey);
    const refusals: Record<string, { status: number; message: string }> = {};
    const states: string[] = [];
    let accepted: { status: number; message: string } | undefined;
    let again: { status: number; message: string } | undefined;
    let forging: Promise<void> = Promise.resolve();

    // Act
    const execution: LocalExecution = await runRotation(
      { userName: 'cb-forged', force: true, config: CALLBACK },
      {
        tokens,
        decision: 'APPROVED',
        onWaiting: (state, executionArn) => {
          if (state !== 'Wait For Consumer') return;
          forging = (async () => {
            const fresh = (await aws.secretKey('cb-forged'))!;
            secretsSeen.push(fresh.secretAccessKey);
            const good = await sign(fresh);
            const reordered = 'Version=2011-06-15&Action=GetCallerIdentity';
            const { createHash } = await import('node:crypto');
            const forgeries: Record<string, SignedRequest | string> = {
              'old key': await sign(old),
              "another user's key": await sign(other),
              'wrong secret': await sign({ accessKeyId: fresh.accessKeyId, secretAccessKey: 'x'.repeat(40) }),
              'stale X-Amz-Date': await sign(fresh, -10 * 60_000),
              'tampered body': { ...good, body: reordered },
              'tampered body and hash': {
                ...good,
                body: reordered,
                headers: {
                  ...good.headers,
                  'x-amz-content-sha256': createHash('sha256').update(reordered).digest('hex'),
                },
              },
              'presigned GET': { ...good, method: 'GET' },
              'not JSON': 'Action=GetCallerIdentity',
            };
            for (const [label, forged] of Object.entries(forgeries)) {
              refusals[label] = await prove(executionArn, forged);
              states.push((await waiting(executionArn)).confirmation?.status ?? 'none');
            }
            accepted = await prove(executionArn, await sign(fresh));
            again = await prove(executionArn, await sign(fresh));
          })();
        },
      },
    );
    await forging;

    // Assess
    const reason = (label: string) => `${refusals[label]?.status} ${refusals[label]?.message}`;
    assert.match(reason('old key'), /^403 proof refused: signed with the old key AKIA\w+: sign with the new key/);
    assert.match(reason("another user's key"), /^403 proof refused: signed with AKIA\w+, which is not the new key/);
    assert.match(reason('wrong secret'), /^403 proof refused: STS says SignatureDoesNotMatch/);
    assert.match(reason('stale X-Amz-Date'), /^403 proof refused: signed at .*more than 5 minutes/);
    assert.match(reason('tampered body'), /^403 proof refused: the body does not match its signed hash/);
    assert.match(reason('tampered body and hash'), /^403 proof refused: STS says SignatureDoesNotMatch/);
    assert.match(reason('presigned GET'), /^403 proof refused: only a signed POST is accepted/);
    assert.match(reason('not JSON'), /^400 Send \{"method","url","headers","body"\}/);
    assert.deepEqual(states, Array(8).fill('WAITING'));
    assert.equal(accepted?.status, 200, accepted?.message);
    assert.equal(again?.status, 409);
    assert.equal(execution.status, 'SUCCEEDED', `${execution.error}: ${execution.cause}`);
    assert.equal((execution.output as { outcome: string }).outcome, 'ROTATED');
    assert.ok(statesEntered(execution).includes('Wait For Consumer'));
    const exited = execution.events.find(
      (e) =>
        e.type === 'TaskStateExited' && (e.stateExitedEventDetails as { name: string }).name === 'Wait For Consumer',
    );
    assert.match(JSON.stringify(exited), /arn:aws:iam::123456789012:user\/cb-forged/);
    emitted.push(JSON.stringify(execution));
  });

  it('rolls back when no confirmation arrives before the timeout, leaving the old key current and working', async () => {
    // Prepare
    const old = await aws.seedUser('cb-silent');
    secretsSeen.push(old.secretAccessKey);

    // Act
    const execution = await runRotation(
      { userName: 'cb-silent', force: true, config: CALLBACK },
      { tokens, decision: 'APPROVED', context: { 'keyrot:approvalTimeoutSeconds': '2' } },
    );
    const late = await prove(execution.executionArn, await sign(old));

    // Assess
    assert.equal(execution.status, 'FAILED');
    assert.equal(execution.error, 'ROLLED_BACK');
    assert.match(execution.cause ?? '', /States\.Timeout/);
    assert.deepEqual(statesEntered(execution).slice(-3), ['Roll Back', 'Rolled Back?', 'Rolled Back']);
    assert.equal((await aws.secretKey('cb-silent'))?.accessKeyId, old.accessKeyId);
    assert.deepEqual(await aws.keys('cb-silent'), [{ id: old.accessKeyId, status: 'Active' }]);
    assert.equal(await aws.whoIs(old), 'arn:aws:iam::123456789012:user/cb-silent');
    assert.equal(late.status, 410);
    emitted.push(JSON.stringify(execution));
  });

  it('leaves no secret access key in any history, log, notification or response', async () => {
    // Prepare
    const notifications = await aws.notifications();
    const logs = readdirSync(process.env.KEYROT_HOME ?? '', { recursive: true, encoding: 'utf8' })
      .filter((file) => file.endsWith('.jsonl') || file.endsWith('.json'))
      .map((file) => readFileSync(path.join(process.env.KEYROT_HOME ?? '', file), 'utf8'));

    // Act
    const everything = [...emitted, ...notifications, ...logs].join('\n');

    // Assess
    assert.match(everything, /keyrot confirm/);
    assertNoSecretIn(everything, secretsSeen, 8);
  });
});
