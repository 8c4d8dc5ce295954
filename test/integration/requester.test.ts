import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, it } from '@jest/globals';
import { archiveExecution, archiveSettings } from '../../handlers/domain/archive';
import { REQUESTER_HEADER, requesterBinding, withRequester } from '../../handlers/domain/requester';
import { signGetCallerIdentity, stsEndpoint, type SignedRequest } from '../../handlers/domain/sts-proof';
import { clients } from '../../handlers/shared/clients';
import { causeMessage } from '../../handlers/shared/errors';
import { recordOf, type LocalExecution } from '../../local/engine';
import { asHandler } from '../../local/ledger';
import { saveExecution } from '../../local/store';
import { CallPoints } from '../support/fault-matrix';
import { LocalAws } from '../support/local-aws';
import { localArnOf, runRotation, statesEntered } from '../support/rotation-runner';

/**
 * Who asks for a rotation is a principal STS vouches for: the start carries a GetCallerIdentity
 * request signed by the starter and bound to the execution, Detect replays it before any other
 * call, and `requestedBy` is the ARN STS answers with. Any other start is refused before a change.
 */
const MEMBER = '210987654321';
const PLAIN = { force: true, config: { validationMode: 'none' } };
let aws: LocalAws;
let points: CallPoints;

/** Run `alice`'s rotation as `name` with the given requester (or none), recording the handlers' AWS calls. */
async function start(name: string, requester: SignedRequest | undefined): Promise<LocalExecution> {
  points.arm(undefined);
  return runRotation({ userName: 'alice', ...PLAIN, requester }, { name, decision: 'APPROVED', around: points.around });
}

function assertRefused(execution: LocalExecution, reason: RegExp): void {
  assert.equal(execution.status, 'FAILED');
  assert.equal(execution.error, 'InvalidInput', execution.cause);
  const cause = causeMessage(execution.cause) ?? '';
  assert.match(cause, /^the requester is not verified: /);
  assert.match(cause, reason);
  assert.match(cause, /nothing was changed$/);
  assert.deepEqual(statesEntered(execution), ['Receive Request', 'Detect Keys', 'Invalid Request']);
  // Not even Detect's reads: the replay to STS is the only request made.
  assert.deepEqual(
    points.seen.map((point) => `${point.handler} ${point.command}`),
    [],
  );
}

const bound = async (name: string, userName = 'alice', offset = 0, extra: Record<string, string> = {}) =>
  signGetCallerIdentity(undefined, stsEndpoint(), 'us-east-1', {
    systemClockOffset: offset,
    headers: { [REQUESTER_HEADER]: requesterBinding({ executionArn: await localArnOf(name), userName }), ...extra },
  });

describe('the requester is authenticated, not typed', () => {
  let keysBefore: { id: string; status: string }[];
  beforeAll(async () => {
    aws = await LocalAws.start({ members: [MEMBER] });
    points = new CallPoints(clients);
    await aws.seedUser('alice');
    keysBefore = await aws.keys('alice');
  });
  afterAll(() => aws?.stop());

  it('refuses a start that carries no requester proof', async () => {
    assertRefused(await start('no-proof', undefined), /the input carries no requester proof/);
  });

  it('refuses a proof signed for another user', async () => {
    assertRefused(
      await start('other-user', await bound('other-user', 'bob')),
      /signed for the rotation "\S+:other-user - bob"/,
    );
  });

  it('refuses a proof replayed under another execution name', async () => {
    assertRefused(
      await start('replayed', await bound('the-original')),
      /signed for the rotation "\S+:the-original - alice"/,
    );
  });

  it('refuses a proof signed more than five minutes ago', async () => {
    assertRefused(await start('stale', await bound('stale', 'alice', -6 * 60_000)), /more than 5 minutes/);
  });

  it('refuses a proof whose binding was changed after signing (STS checks the signature)', async () => {
    const proof = await bound('someone-else');
    proof.headers[REQUESTER_HEADER] = requesterBinding({ executionArn: await localArnOf('edited'), userName: 'alice' });
    assertRefused(await start('edited', proof), /SignatureDoesNotMatch/);
  });

  it('refuses a proof that does not cover the binding header', async () => {
    const proof = await signGetCallerIdentity(undefined, stsEndpoint(), 'us-east-1');
    assertRefused(await start('unbound', proof), new RegExp(`does not cover ${REQUESTER_HEADER}`));
  });

  it('refuses a proof signed for another STS endpoint', async () => {
    const proof = await signGetCallerIdentity(undefined, 'https://sts.us-east-1.amazonaws.com', 'us-east-1', {
      headers: {
        [REQUESTER_HEADER]: requesterBinding({ executionArn: await localArnOf('elsewhere'), userName: 'alice' }),
      },
    });
    assertRefused(
      await start('elsewhere', proof),
      /names sts\.us-east-1\.amazonaws\.com, but keyrot checks proofs with STS at 127\.0\.0\.1/,
    );
  });

  it('refuses a proof signed for the same name in another deployment (the binding is the full execution ARN)', async () => {
    const elsewhere = 'arn:aws:states:eu-west-1:111122223333:execution:Keyrot-rotation:same-name';
    const proof = await signGetCallerIdentity(undefined, stsEndpoint(), 'us-east-1', {
      headers: { [REQUESTER_HEADER]: requesterBinding({ executionArn: elsewhere, userName: 'alice' }) },
    });
    assertRefused(await start('same-name', proof), /signed for the rotation "arn:aws:states:eu-west-1:111122223333:/);
  });

  it('refuses a proof naming a header twice, or naming another endpoint in its url', async () => {
    const proof = await bound('twice');
    const doubled = { ...proof, headers: { ...proof.headers, 'X-Keyrot-Rotation': 'other' } };
    assertRefused(await start('twice', doubled), /carries the header x-keyrot-rotation twice/);
    const pointed = { ...(await bound('pointed')), url: 'http://169.254.169.254/latest/' };
    assertRefused(await start('pointed', pointed), /names 169\.254\.169\.254/);
  });

  it('changed nothing for any refused start', async () => {
    assert.deepEqual(await aws.keys('alice'), keysBefore);
  });

  it('records the role a session belongs to, and keeps its session token out of every record', async () => {
    const session = await aws.member(MEMBER);
    assert.ok(session.sessionToken);
    const name = 'as-a-role-session';
    const input = { userName: 'alice', ...PLAIN };
    const proof = await signGetCallerIdentity(session as Required<typeof session>, stsEndpoint(), 'us-east-1', {
      headers: { [REQUESTER_HEADER]: requesterBinding({ executionArn: await localArnOf(name), userName: 'alice' }) },
    });
    const execution = await runRotation({ ...input, requester: proof }, { name, decision: 'APPROVED' });

    assert.equal(execution.status, 'SUCCEEDED', execution.cause);
    const record = recordOf(execution);
    const text = JSON.stringify(record);
    assert.match(text, new RegExp(`"requestedBy\\\\":\\\\"arn:aws:sts::${MEMBER}:assumed-role/KeyrotMember/test\\\\"`));
    const saved = saveExecution(execution);
    const archive = archiveSettings()!;
    const archived = await asHandler('archive-execution', () => archiveExecution(clients, archive, record));
    for (const [where, body] of [
      ['the record', text],
      ['the stored history', readFileSync(saved.history, 'utf8')],
      ['the stored log', readFileSync(saved.log, 'utf8')],
      ['the archive answer', JSON.stringify(archived)],
    ] as const) {
      assert.equal(body.includes(session.sessionToken), false, `the session token is in ${where}`);
      assert.equal(body.includes(session.secretAccessKey), false, `the session's secret is in ${where}`);
    }
    assert.match(text, /x-amz-security-token\\":\\"redacted/);
  });

  it('records the operator who ran the start when the start is proven the usual way', async () => {
    const execution = await runRotation(
      await withRequester({ userName: 'alice', ...PLAIN }, await localArnOf('usual')),
      {
        name: 'usual',
        decision: 'APPROVED',
      },
    );
    assert.equal(execution.status, 'SUCCEEDED', execution.cause);
    assert.ok(JSON.stringify(recordOf(execution)).includes(`\\"requestedBy\\":\\"${aws.operatorArn}\\"`));
  });
});
