import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, it } from '@jest/globals';
import {
  CreateBucketCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectVersionsCommand,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import {
  DescribeExecutionCommand,
  DescribeStateMachineForExecutionCommand,
  GetExecutionHistoryCommand,
  SFNClient,
} from '@aws-sdk/client-sfn';
import { mockClient } from 'aws-sdk-client-mock';
import { replay } from '../../audit/replay';
import { verifyArchive } from '../../audit/verify';
import { apiSource, localSource, readArchived } from '../../cli/executions';
import { archiveExecution, chainKey, entryDigest, type ChainEntry } from '../../handlers/domain/archive';
import type { ExecutionRecord } from '../../handlers/domain/execution-record';
import type { VerificationKey } from '../../handlers/domain/signing';
import { canonicalJson, sha256Hex } from '../../handlers/shared/digest';
import { recordOf, type LocalExecution } from '../../local/engine';
import { saveExecution } from '../../local/store';
import { injectFault } from '../support/faults';
import { LocalAws } from '../support/local-aws';
import { runRotation } from '../support/rotation-runner';

let aws: LocalAws;
let clients: typeof import('../../handlers/shared/clients').clients;
/** keyrot's signing public key, as GetPublicKey returns it: what the replay checks signatures with. */
let publicKey: VerificationKey;
let s3: S3Client;
const runs: Record<string, LocalExecution> = {};
const SEVEN_YEARS_DAYS = 2557;
/** moto's account: the users' chains live under it (the local executions' ARNs say 000000000000). */
const ACCOUNT = '123456789012';
let buckets = 0;

/** A new Object Lock bucket holding the given runs, archived in order. */
async function archiveInto(...names: string[]): Promise<string> {
  const bucket = `evidence-${(buckets += 1)}`;
  await s3.send(new CreateBucketCommand({ Bucket: bucket, ObjectLockEnabledForBucket: true }));
  for (const name of names) {
    await archiveExecution(clients, { bucket, retentionDays: SEVEN_YEARS_DAYS }, recordOf(runs[name]!));
  }
  return bucket;
}

async function text(bucket: string, key: string): Promise<string> {
  return (await (await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }))).Body?.transformToString()) ?? '';
}

/** What an attacker with write access (but no way past Object Lock) can do: put a new version. */
async function overwrite(bucket: string, key: string, body: string): Promise<void> {
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));
}

const problems = async (bucket: string) =>
  (await verifyArchive(s3, bucket, { publicKey })).findings.map((finding) => `${finding.key}: ${finding.problem}`);

describe('audit replay and the evidence archive', () => {
  beforeAll(async () => {
    process.env.KEYROT_HOME = mkdtempSync(path.join(tmpdir(), 'keyrot-audit-'));
    aws = await LocalAws.start();
    const shared = await import('../../handlers/shared/clients');
    clients = shared.clients;
    const { verificationKey } = await import('../../handlers/domain/signing');
    publicKey = await verificationKey(clients.kms, shared.settings());
    s3 = new S3Client({
      endpoint: aws.moto.endpoint,
      region: 'us-east-1',
      credentials: aws.operator,
      forcePathStyle: true,
    });
    const plain = { validationMode: 'none' } as const;
    for (const user of ['audited', 'broken', 'crashed']) await aws.seedUser(user);

    runs.approved = await runRotation({ userName: 'audited', force: true, config: plain });
    runs.rejected = await runRotation({ userName: 'audited', force: true, config: plain }, { decision: 'REJECTED' });
    runs.again = await runRotation({ userName: 'audited', force: true, config: plain });
    runs.rolledBack = await runRotation(
      { userName: 'broken', force: true, config: plain },
      {
        around: async (handler, invoke) => {
          if (handler !== 'verify-key') return invoke();
          throw Object.assign(new Error('the new key signed as someone else'), { name: 'WrongIdentity' });
        },
      },
    );
    const disarm = injectFault(clients.iam, {
      command: 'CreateAccessKeyCommand',
      when: 'after',
      error: 'Lambda.Unknown',
    });
    try {
      runs.crashed = await runRotation({ userName: 'crashed', force: true, config: plain });
    } finally {
      disarm();
    }
  });
  afterAll(async () => aws?.stop());

  it('replays a rotation step by step, every key id named and the deletion signature verified', () => {
    const replayed = replay(runs.approved!, { publicKey });

    assert.equal(replayed.outcome, 'ROTATED');
    assert.equal(replayed.complete, true, replayed.gaps.join('; '));
    assert.equal(replayed.user, 'audited');
    // Who asked is what STS said of the requester's proof, not text anyone typed.
    assert.equal(replayed.requestedBy, aws.operatorArn);
    assert.deepEqual(
      replayed.steps.map((step) => step.state),
      runs
        .approved!.events.filter((event) => event.type.endsWith('StateEntered'))
        .map((event) => (event.stateEnteredEventDetails as { name: string }).name),
    );
    assert.ok(replayed.steps.every((step) => step.result === 'succeeded' && step.enteredAt.endsWith('Z')));
    const create = replayed.steps.find((step) => step.state === 'Create Access Key');
    assert.match(create?.did ?? '', new RegExp(`newKeyId ${replayed.newKeyId}`));
    assert.equal(replayed.steps.find((step) => step.state === 'Key Due?')?.did, 'chose Rotation Approval Required?');
    assert.equal(replayed.signatures.length, 1);
    const [signature] = replayed.signatures;
    assert.equal(signature?.state, 'Approve Deletion');
    assert.equal(signature?.meaning, 'APPROVED');
    assert.equal(signature?.signer, 'Quinn Avery (QA Lead)');
    assert.equal(signature?.reason, 'change CR-1042 approved');
    assert.equal(signature?.verified, true, signature?.problems.join('; '));
    assert.deepEqual(signature?.keyIds, [replayed.oldKeyId, replayed.newKeyId]);
  });

  it('shows a rejection as a verified REJECTED signature, then the rollback', () => {
    const replayed = replay(runs.rejected!, { publicKey });

    assert.equal(replayed.outcome, 'ROLLED_BACK');
    assert.match(replayed.reason ?? '', /ApprovalRejected: rejected by Quinn Avery/);
    assert.equal(replayed.signatures[0]?.meaning, 'REJECTED');
    assert.equal(replayed.signatures[0]?.reason, 'consumer not ready');
    assert.equal(replayed.signatures[0]?.verified, true);
    const gate = replayed.steps.find((step) => step.state === 'Approve Deletion');
    assert.equal(gate?.result, 'failed');
    assert.match(gate?.did ?? '', /^REJECTED by Quinn Avery/);
    assert.deepEqual(
      replayed.steps.slice(-3).map((step) => step.state),
      ['Roll Back', 'Rolled Back?', 'Rolled Back'],
    );
  });

  it('names the failed step, its error and the rollback cause', () => {
    const replayed = replay(runs.rolledBack!, { publicKey });

    assert.equal(replayed.outcome, 'ROLLED_BACK');
    const verify = replayed.steps.find((step) => step.state === 'Verify New Key');
    assert.equal(verify?.result, 'failed');
    assert.match(verify?.errors[0] ?? '', /^WrongIdentity: the new key signed as someone else/);
    assert.match(replayed.reason ?? '', /WrongIdentity/);
    assert.match(replayed.steps.find((step) => step.state === 'Roll Back')?.did ?? '', /deleted new key/);
  });

  it('folds a crashed attempt and its retry into one step with two tries', () => {
    const replayed = replay(runs.crashed!, { publicKey });

    assert.equal(replayed.outcome, 'ROTATED');
    const create = replayed.steps.filter((step) => step.state === 'Create Access Key');
    assert.equal(create.length, 1);
    assert.equal(create[0]?.tries, 2);
    assert.match(create[0]?.errors[0] ?? '', /^Lambda\.Unknown/);
    assert.match(create[0]?.did ?? '', /\(2 tries\)$/);
  });

  it('gives identical JSON whether the history comes from the Step Functions API, the archive or the local store', async () => {
    const bucket = await archiveInto('approved', 'rejected', 'rolledBack', 'crashed');
    for (const run of [runs.approved!, runs.rejected!, runs.rolledBack!, runs.crashed!]) {
      saveExecution(run);
      // The API as the SDK returns it: Date timestamps, pages of 25 events, optional fields absent.
      const sfn = mockClient(SFNClient);
      sfn.on(DescribeExecutionCommand).resolves({
        executionArn: run.executionArn,
        stateMachineArn: run.stateMachineArn,
        name: run.name,
        status: run.status,
        startDate: new Date(run.startDate),
        stopDate: new Date(run.stopDate),
        input: JSON.stringify(run.input),
        redriveCount: 0,
      });
      sfn.on(DescribeStateMachineForExecutionCommand).resolves({ definition: run.definition });
      const pages: ExecutionRecord['events'][] = [];
      for (let i = 0; i < run.events.length; i += 25) pages.push(run.events.slice(i, i + 25));
      sfn.on(GetExecutionHistoryCommand).callsFake((input: { nextToken?: string }) => {
        const index = Number(input.nextToken ?? 0);
        return {
          events: pages[index]!.map((event) => ({ ...event, timestamp: new Date(event.timestamp) })),
          ...(index + 1 < pages.length ? { nextToken: String(index + 1) } : {}),
        };
      });

      const fromApi = replay(await apiSource(run.stateMachineArn, new SFNClient({})).read(run.executionArn), {
        publicKey,
      });
      const fromArchive = replay(await readArchived(bucket, run.executionArn), { publicKey });
      const fromLocal = replay(await localSource().read(run.name), { publicKey });
      sfn.restore();

      assert.equal(JSON.stringify(fromApi), JSON.stringify(fromLocal), `${run.name}: API and local differ`);
      assert.equal(JSON.stringify(fromArchive), JSON.stringify(fromLocal), `${run.name}: archive and local differ`);
      assert.equal(fromApi.eventCount, run.events.length);
    }
  });

  it('writes each record once, KMS-encrypted and locked in COMPLIANCE mode for seven years; archiving again adds nothing', async () => {
    const bucket = await archiveInto('approved');
    const record = recordOf(runs.approved!);
    const again = await archiveExecution(clients, { bucket, retentionDays: SEVEN_YEARS_DAYS }, record);

    assert.equal(again.alreadyArchived, true);
    assert.equal(again.entry.seq, 1);
    assert.equal(again.entry.outcome, 'ROTATED');
    const head = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: again.recordKey }));
    assert.equal(head.ObjectLockMode, 'COMPLIANCE');
    const years = ((head.ObjectLockRetainUntilDate?.getTime() ?? 0) - Date.now()) / (365.25 * 86_400_000);
    assert.ok(years > 6.99 && years < 7.01, `locked for ${years} years`);
    assert.equal(head.ServerSideEncryption, 'aws:kms');
    const versions = await s3.send(new ListObjectVersionsCommand({ Bucket: bucket }));
    assert.equal(versions.Versions?.length, 2, 'one record and one chain entry, each written once');
  });

  it('refuses to delete an archived object; an overwrite leaves the locked original and shows in verify', async () => {
    const bucket = await archiveInto('approved');
    const key = chainKey(ACCOUNT, 'audited', 1);
    const { VersionId } = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));

    await assert.rejects(
      s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: key, VersionId })),
      (error: Error) => error.name === 'AccessDenied',
    );
    // An overwrite only adds a version: the locked original is unchanged, and verify sees it.
    const original = await text(bucket, key);
    await overwrite(bucket, key, original.replace('"seq":1', '"seq":1 '));
    const kept = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key, VersionId }));
    assert.equal(await kept.Body?.transformToString(), original);
    assert.match((await problems(bucket)).join('\n'), /overwritten: 2 versions/);
  });

  it('verifies an intact archive: every chain, entry and record', async () => {
    const bucket = await archiveInto('approved', 'rejected', 'again', 'rolledBack', 'crashed');

    const report = await verifyArchive(s3, bucket, { publicKey });

    assert.deepEqual(report.findings, []);
    assert.equal(report.records, 5);
    const audited = report.chains.find((chain) => chain.user === 'audited');
    assert.deepEqual(audited, { account: ACCOUNT, user: 'audited', entries: 3, intact: true });
  });

  it('detects one changed byte in a record', async () => {
    const bucket = await archiveInto('approved', 'rejected', 'again');
    const entry = JSON.parse(await text(bucket, chainKey(ACCOUNT, 'audited', 2))) as ChainEntry;
    const record = await text(bucket, entry.recordKey);
    const at = record.indexOf('consumer not ready');
    await overwrite(bucket, entry.recordKey, `${record.slice(0, at)}C${record.slice(at + 1)}`);

    const found = await problems(bucket);

    assert.ok(found.includes(`${entry.recordKey}: changed: its SHA-256 is not the one chained`), found.join('\n'));
  });

  it('detects a deleted record and a deleted chain entry', async () => {
    const bucket = await archiveInto('approved', 'rejected', 'again');
    const second = chainKey(ACCOUNT, 'audited', 2);
    const entry = JSON.parse(await text(bucket, second)) as ChainEntry;
    await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: entry.recordKey }));
    await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: chainKey(ACCOUNT, 'audited', 3) }));

    const found = (await problems(bucket)).join('\n');

    assert.match(found, new RegExp(`${entry.recordKey}: deleted`));
    assert.match(found, /0000000003\.json: deleted/);
  });

  it('detects two chain entries swapped', async () => {
    const bucket = await archiveInto('approved', 'rejected', 'again');
    const [one, two] = [1, 2].map((seq) => chainKey(ACCOUNT, 'audited', seq));
    const [first, second] = [await text(bucket, one!), await text(bucket, two!)];
    await overwrite(bucket, one!, second);
    await overwrite(bucket, two!, first);

    const found = (await problems(bucket)).join('\n');

    assert.match(found, /0000000001\.json: says it is entry 2, but is stored as 1/);
    assert.match(found, /broken link/);
  });

  it('detects a signature copied onto another execution, even with every digest recomputed', async () => {
    const bucket = await archiveInto('approved', 'rejected', 'again');
    const donor = runs.approved!.events.find((event) => event.type === 'TaskSucceeded')!;
    const lastKey = chainKey(ACCOUNT, 'audited', 3);
    const entry = JSON.parse(await text(bucket, lastKey)) as ChainEntry;
    const victim = JSON.parse(await text(bucket, entry.recordKey)) as ExecutionRecord;
    const events = victim.events.map((event) =>
      event.type === 'TaskSucceeded' ? { ...event, taskSucceededEventDetails: donor.taskSucceededEventDetails } : event,
    );
    const forged = canonicalJson({ ...victim, events });
    await overwrite(bucket, entry.recordKey, forged);
    const { digest: _digest, ...fields } = { ...entry, recordSha256: sha256Hex(forged) };
    await overwrite(bucket, lastKey, canonicalJson({ ...fields, digest: entryDigest(fields) }));

    const found = (await problems(bucket)).join('\n');

    assert.match(found, /signature at Approve Deletion: it was signed for another execution/);
    assert.match(found, /overwritten: 2 versions/);
  });
});
