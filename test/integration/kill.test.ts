import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, it } from '@jest/globals';
import { GetObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { LOCAL_ARCHIVE_BUCKET } from '../../local/seed';
import { cliSession } from '../support/cli';
import { LocalAws } from '../support/local-aws';

// A real SIGKILL of `keyrot rotate --local` at five steps, then the documented recovery
// (abort rolls back, resume continues), each checked from outside with independent calls.
let aws: LocalAws;
const { home, live, waitFor, keyrot } = cliSession(() => aws);

beforeAll(async () => {
  aws = await LocalAws.start();
});
afterAll(async () => aws?.stop());

type Stored = { pid?: number; status: string; events: { type: string; [k: string]: unknown }[]; incomplete?: string };
const stored = (name: string): Stored | undefined => {
  const file = path.join(home, 'executions', `${name}.json`);
  return existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as Stored) : undefined;
};

/** Start a local rotation and SIGKILL its process once `ready` holds for its record and progress. */
async function killWhen(user: string, args: string[], ready: (record: Stored, stderr: string) => boolean) {
  const rotation = keyrot('rotate', user, '--local', '--force', '--json', ...args);
  // --json keeps stdout for the result; the run is found in the store, as status finds it.
  const name = await waitFor(() =>
    (existsSync(path.join(home, 'executions'))
      ? readdirSync(path.join(home, 'executions'), { withFileTypes: true })
      : []
    )
      .map((entry) => entry.name)
      .filter((file) => /^[^.]+\.json$/.test(file))
      .map((file) => file.slice(0, -'.json'.length))
      .find((run) => {
        const record = stored(run) as (Stored & { input?: { userName?: string } }) | undefined;
        return record?.status === 'RUNNING' && record.input?.userName === user;
      }),
  );
  const record = await waitFor(() => {
    const now = stored(name);
    return now?.pid && ready(now, live.stderr) ? now : undefined;
  });
  process.kill(record.pid as number, 'SIGKILL');
  const killedAt = Date.now();
  const ended = await rotation;
  return { name, killedAt, record, ended };
}

/** What an operator sees of a killed run before recovering it: status, list, audit, a new rotate. */
async function beforeRecovery(user: string, name: string) {
  return {
    status: await keyrot('status', name, '--local'),
    list: JSON.parse((await keyrot('list', '--local', '--user', user, '--json')).stdout) as { status: string }[],
    audit: await keyrot('audit', name, '--local', '--format', 'json'),
    rotate: await keyrot('rotate', user, '--local', '--force', '--json'),
  };
}

function assertProcessGone(seen: Awaited<ReturnType<typeof beforeRecovery>>, name: string) {
  assert.equal(seen.status.code, 8, seen.status.stderr);
  assert.match(seen.status.stdout, /process gone/);
  assert.equal(seen.list[0]?.status, 'PROCESS_GONE');
  assert.equal(seen.audit.code, 8, 'the audit of a run whose process died exits 8');
  assert.match(seen.audit.stderr, /INCOMPLETE/);
  assert.equal(seen.rotate.code, 10, 'the user stays held until the run is recovered');
  assert.match(seen.rotate.stderr, new RegExp(`${name}.*process gone.*keyrot resume`));
}

const s3 = () =>
  new S3Client({ endpoint: aws.moto.endpoint, region: 'us-east-1', credentials: aws.operator, forcePathStyle: true });

/** The archived records of one execution (run-0.json, run-1.json, ...), parsed. */
async function archived(name: string): Promise<Record<string, { status: string; incomplete?: string }>> {
  const listed = await s3().send(new ListObjectsV2Command({ Bucket: LOCAL_ARCHIVE_BUCKET, Prefix: 'records/' }));
  const records: Record<string, { status: string; incomplete?: string }> = {};
  for (const object of listed.Contents ?? []) {
    if (!object.Key?.includes(`/${name}/`)) continue;
    const body = await s3().send(new GetObjectCommand({ Bucket: LOCAL_ARCHIVE_BUCKET, Key: object.Key }));
    records[path.basename(object.Key)] = JSON.parse(await body.Body!.transformToString());
  }
  return records;
}

/** Exactly one key, active, that AWSCURRENT holds and STS accepts as the user; the next rotation works. */
async function assertRotatable(user: string, expectedKeyId: string) {
  const keys = await aws.keys(user);
  assert.deepEqual(keys, [{ id: expectedKeyId, status: 'Active' }]);
  const current = await aws.secretKey(user);
  assert.equal(current?.accessKeyId, expectedKeyId);
  assert.match(await aws.whoIs(current!), new RegExp(`:user/${user}$`));
  const next = await keyrot(
    'rotate',
    user,
    '--local',
    '--force',
    '--json',
    '--validation',
    'none',
    '--no-deletion-approval',
    '--skip-waits',
  );
  assert.equal(next.code, 0, next.stderr);
  assert.equal(JSON.parse(next.stdout).outcome, 'ROTATED');
}

const named = (record: Stored, keyId: string) => JSON.stringify(record.events).includes(keyId);

describe('a killed local rotation leaves a rotatable user', () => {
  it('names the created key in the record at once, and abort right after Create Access Key rolls it back', async () => {
    const old = await aws.seedUser('kill-created');
    const { name, killedAt, ended } = await killWhen(
      'kill-created',
      ['--validation', 'none', '--skip-waits'],
      (record) =>
        record.events.some((e) => e.type === 'LambdaFunctionSucceeded' && JSON.stringify(e).includes('newKeyId')),
    );
    const atKill = await aws.keys('kill-created');
    const newKeyId = atKill.find((key) => key.id !== old.accessKeyId)?.id ?? '';
    const seen = await beforeRecovery('kill-created', name);

    const recoveryStarted = Date.now();
    const aborted = await keyrot('abort', name, '--local', '--reason', 'killed in test', '--as', 'olu');
    const recoveryMs = Date.now() - recoveryStarted;
    const recoveredMs = Date.now() - killedAt;

    assert.equal(ended.code, null, 'the rotation died of the signal');
    assert.equal(atKill.length, 2, 'the kill came after CreateAccessKey');
    assert.ok(named(stored(name) as Stored, newKeyId), `the record names ${newKeyId}`);
    assertProcessGone(seen, name);
    assert.equal(aborted.code, 0, aborted.stderr);
    assert.match(aborted.stdout, new RegExp(`ROLLED_BACK.*deleted new key ${newKeyId}`));
    const archive = await archived(name);
    assert.equal(archive['run-0.json']?.status, 'ABORTED');
    assert.match(archive['run-0.json']?.incomplete ?? '', /process \d+ died during/);
    console.info(
      `kill after Create Access Key -> rotatable user (keyrot abort) in ${recoveredMs} ms (the recovery command itself: ${recoveryMs} ms; the rest is status, list, audit)`,
    );
    await assertRotatable('kill-created', old.accessKeyId);
  });

  it('rolls back with abort when killed in the grace period, re-activating the old key', async () => {
    const old = await aws.seedUser('kill-grace');
    const { name, killedAt } = await killWhen(
      'kill-grace',
      ['--validation', 'none', '--no-deletion-approval', '--grace', '120'],
      (record) => JSON.stringify(record.events).includes('"name":"Grace Period"'),
    );
    const atKill = await aws.keys('kill-grace');
    const seen = await beforeRecovery('kill-grace', name);

    const recoveryStarted = Date.now();
    const aborted = await keyrot('abort', name, '--local', '--reason', 'killed in test');
    const recoveryMs = Date.now() - recoveryStarted;
    const recoveredMs = Date.now() - killedAt;

    assert.deepEqual(atKill.find((key) => key.id === old.accessKeyId)?.status, 'Inactive');
    assertProcessGone(seen, name);
    assert.equal(aborted.code, 0, aborted.stderr);
    assert.match(aborted.stdout, new RegExp(`re-activated ${old.accessKeyId}`));
    assert.match((await archived(name))['run-0.json']?.incomplete ?? '', /died during Grace Period/);
    console.info(
      `kill in the grace period -> rotatable user (keyrot abort) in ${recoveredMs} ms (the recovery command itself: ${recoveryMs} ms; the rest is status, list, audit)`,
    );
    await assertRotatable('kill-grace', old.accessKeyId);
  });

  it('rolls back with abort when killed as Distribute Key starts, leaving AWSCURRENT on the old key', async () => {
    const old = await aws.seedUser('kill-distribute');
    const { name, killedAt } = await killWhen(
      'kill-distribute',
      ['--validation', 'last-used', '--poll', '60'],
      (record) => JSON.stringify(record.events).includes('"name":"Distribute Key"'),
    );
    const atKill = await aws.keys('kill-distribute');
    const seen = await beforeRecovery('kill-distribute', name);

    const recoveryStarted = Date.now();
    const aborted = await keyrot('abort', name, '--local', '--reason', 'killed in test');
    const recoveryMs = Date.now() - recoveryStarted;
    const recoveredMs = Date.now() - killedAt;

    assert.equal(atKill.length, 2, 'the kill came after CreateAccessKey');
    assertProcessGone(seen, name);
    assert.equal(aborted.code, 0, aborted.stderr);
    assert.match(aborted.stdout, /ROLLED_BACK/);
    assert.match(
      (await archived(name))['run-0.json']?.incomplete ?? '',
      /died during (Distribute Key|Check New Key Used|Wait Before Checking Again)/,
    );
    console.info(
      `kill at Distribute Key -> rotatable user (keyrot abort) in ${recoveredMs} ms (the recovery command itself: ${recoveryMs} ms; the rest is status, list, audit)`,
    );
    await assertRotatable('kill-distribute', old.accessKeyId);
  });

  it('rolls back with abort when killed in the validation wait, restoring the old key in AWSCURRENT', async () => {
    const old = await aws.seedUser('kill-validation');
    const { name, killedAt } = await killWhen(
      'kill-validation',
      ['--validation', 'last-used', '--poll', '60'],
      (record) => JSON.stringify(record.events).includes('"name":"Wait Before Checking Again"'),
    );
    const atKill = await aws.secretKey('kill-validation');
    const seen = await beforeRecovery('kill-validation', name);

    const recoveryStarted = Date.now();
    const aborted = await keyrot('abort', name, '--local', '--reason', 'killed in test');
    const recoveryMs = Date.now() - recoveryStarted;
    const recoveredMs = Date.now() - killedAt;

    assert.notEqual(atKill?.accessKeyId, old.accessKeyId, 'the kill came after Distribute Key moved AWSCURRENT');
    assertProcessGone(seen, name);
    assert.equal(aborted.code, 0, aborted.stderr);
    assert.match(aborted.stdout, new RegExp(`ROLLED_BACK.*deleted new key ${atKill?.accessKeyId}`));
    assert.match((await archived(name))['run-0.json']?.incomplete ?? '', /died during Wait Before Checking Again/);
    console.info(
      `kill in the validation wait -> rotatable user (keyrot abort) in ${recoveredMs} ms (the recovery command itself: ${recoveryMs} ms; the rest is status, list, audit)`,
    );
    await assertRotatable('kill-validation', old.accessKeyId);
  });

  it('resumes from the deletion gate as a redrive and ends ROTATED with one key', async () => {
    const old = await aws.seedUser('kill-gate');
    const { name, killedAt } = await killWhen('kill-gate', ['--validation', 'none', '--skip-waits'], (_r, stderr) =>
      /open http:\/\/127\.0\.0\.1:\d+\/approvals\//.test(stderr),
    );
    const seen = await beforeRecovery('kill-gate', name);

    const recoveryStarted = Date.now();
    const resumed = await keyrot('resume', name, '--auto-approve', 'quality-approver', '--skip-waits', '--json');
    const recoveryMs = Date.now() - recoveryStarted;
    const recoveredMs = Date.now() - killedAt;
    const audit = await keyrot('audit', name, '--local', '--format', 'json');

    assertProcessGone(seen, name);
    assert.equal(resumed.code, 0, resumed.stderr);
    const result = JSON.parse(resumed.stdout);
    assert.equal(result.outcome, 'ROTATED');
    assert.equal(result.oldKeyId, old.accessKeyId);
    assert.equal(await aws.whoIs(old), 'InvalidClientTokenId', 'the old key is gone');
    assert.equal(audit.code, 0, audit.stderr);
    const replayed = JSON.parse(audit.stdout);
    assert.equal(replayed.redriveCount, 1);
    assert.equal(replayed.outcome, 'ROTATED');
    const archive = await archived(name);
    assert.equal(archive['run-0.json']?.status, 'FAILED');
    assert.match(archive['run-0.json']?.incomplete ?? '', /died during Approve Deletion/);
    assert.equal(archive['run-1.json']?.status, 'SUCCEEDED');
    console.info(
      `kill at the deletion gate -> rotatable user (keyrot resume) in ${recoveredMs} ms (the recovery command itself: ${recoveryMs} ms; the rest is status, list, audit)`,
    );
    await assertRotatable('kill-gate', result.newKeyId);
  });
});
