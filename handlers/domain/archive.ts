import {
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type PutObjectCommandInput,
  type S3Client,
} from '@aws-sdk/client-s3';
import { canonicalJson, sha256Hex } from '../shared/digest';
import { ArchiveConflictError } from '../shared/errors';
import { logger } from '../shared/logger';
import type { Clients, Settings } from '../shared/clients';
import { closeApprovalsOf, signInEvidenceOf } from './approvals';
import { endingOf, userAccountOf, userOf, type ExecutionRecord } from './execution-record';
import { summarize } from './outcome';

/** Where and how long records are kept. */
export interface ArchiveConfig {
  bucket: string;
  /** Object Lock retention in COMPLIANCE mode; default 7 years. */
  retentionDays: number;
  /** Customer managed KMS key for the objects (the bucket default applies when absent). */
  kmsKeyId?: string;
}

export const RECORD_SCHEMA = 'keyrot.execution-record/1';
export const CHAIN_SCHEMA = 'keyrot.chain-entry/1';
/** Records of executions whose input names no valid IAM user chain under this name. */
export const NO_USER = '_no-user';

/** One link of a user's chain: the digest of an archived record and of the link before it. */
export interface ChainEntry {
  schema: typeof CHAIN_SCHEMA;
  seq: number;
  account: string;
  user: string;
  executionArn: string;
  redriveCount: number;
  status: string;
  /** The rotation's outcome as the history states it (ROTATED, SKIPPED, ROLLED_BACK, ...). */
  outcome: string;
  reason: string | null;
  stopDate: string | null;
  recordKey: string;
  recordSha256: string;
  recordBytes: number;
  eventCount: number;
  previousDigest: string | null;
  archivedAt: string;
  /** SHA-256 of this entry's canonical JSON without `digest`. */
  digest: string;
}

/** The archived record of one run of an execution (a redrive is archived again as another run). */
export function recordKey(record: Pick<ExecutionRecord, 'executionArn' | 'redriveCount'>): string {
  const [, , , , account, , machine, name] = record.executionArn.split(':');
  return `records/${account}/${machine}/${name}/run-${record.redriveCount}.json`;
}

/** Where the chain of one user's records lives; entries are `<seq, 10 digits>.json`. */
export function chainPrefix(account: string, user: string): string {
  return `chain/${account}/${user}/`;
}

export function chainKey(account: string, user: string, seq: number): string {
  return `${chainPrefix(account, user)}${String(seq).padStart(10, '0')}.json`;
}

/** The digest of a chain entry: SHA-256 over its canonical JSON without the digest itself. */
export function entryDigest(entry: Omit<ChainEntry, 'digest'> & { digest?: string }): string {
  const { digest: _digest, ...fields } = entry;
  return sha256Hex(canonicalJson(fields));
}

/** The exact bytes archived for an execution record. */
export function recordBody(record: ExecutionRecord): string {
  return canonicalJson({ schema: RECORD_SCHEMA, ...record });
}

const isPreconditionFailed = (error: unknown) =>
  error instanceof Error && (error.name === 'PreconditionFailed' || error.name === 'ConditionalRequestConflict');

async function readText(s3: S3Client, bucket: string, key: string): Promise<string | undefined> {
  try {
    const object = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    return await object.Body?.transformToString();
  } catch (error) {
    if (error instanceof Error && (error.name === 'NoSuchKey' || error.name === 'NotFound')) return undefined;
    throw error;
  }
}

/** Every key under a prefix, in S3's (lexicographic) order. */
export async function listKeys(s3: S3Client, bucket: string, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  let token: string | undefined;
  do {
    const page = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }));
    keys.push(...(page.Contents ?? []).map((object) => object.Key ?? ''));
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  return keys;
}

/** A user's chain entries in order, as stored (verification is `keyrot verify`'s job). */
export async function readChain(s3: S3Client, bucket: string, account: string, user: string): Promise<ChainEntry[]> {
  const entries: ChainEntry[] = [];
  for (const key of await listKeys(s3, bucket, chainPrefix(account, user))) {
    const text = await readText(s3, bucket, key);
    if (text) entries.push(JSON.parse(text) as ChainEntry);
  }
  return entries;
}

/**
 * Write an object once: never over an existing key (`If-None-Match: *`), locked in COMPLIANCE
 * mode until the retention ends, encrypted with KMS. False when the key already exists.
 */
async function putOnce(s3: S3Client, config: ArchiveConfig, key: string, body: string, now: Date): Promise<boolean> {
  const input: PutObjectCommandInput = {
    Bucket: config.bucket,
    Key: key,
    Body: body,
    ContentType: 'application/json',
    IfNoneMatch: '*',
    ObjectLockMode: 'COMPLIANCE',
    ObjectLockRetainUntilDate: new Date(now.getTime() + config.retentionDays * 86_400_000),
    ServerSideEncryption: 'aws:kms',
    ...(config.kmsKeyId ? { SSEKMSKeyId: config.kmsKeyId } : {}),
  };
  try {
    await s3.send(new PutObjectCommand(input));
    return true;
  } catch (error) {
    if (isPreconditionFailed(error)) return false;
    throw error;
  }
}

/** What archiving one execution wrote (or found already written). */
export interface Archived {
  recordKey: string;
  chainKey: string;
  entry: ChainEntry;
  alreadyArchived: boolean;
}

/**
 * Archive a closed execution: its record as canonical JSON under Object Lock, then a chain
 * entry linking the record's SHA-256 to the previous entry of the same user. Safe to repeat:
 * a record already archived with the same bytes is not chained twice.
 */
/**
 * An ended execution into the archive with what its approvals hold: first close what it left
 * waiting (nobody can sign in there any more, so the sign-in evidence read next is final and a
 * retried archiver writes the same bytes), then archive the record with that evidence, then let
 * the approval records expire with the archive's lock. Without an archive only the closing runs.
 */
export async function archiveEnded(
  clients: { s3: S3Client; ddb: Clients['ddb'] },
  archive: ArchiveConfig | undefined,
  approvals: Pick<Settings, 'approvalsTable'>,
  record: ExecutionRecord,
  ended: { executionArn: string; status: string; cause?: string } = endingOf(record),
): Promise<Archived | undefined> {
  await closeApprovalsOf(clients, approvals, ended);
  if (!archive) return undefined;
  const signIns = await signInEvidenceOf(clients, approvals, record.executionArn);
  const archived = await archiveExecution(clients, archive, { ...record, ...(signIns.length ? { signIns } : {}) });
  await closeApprovalsOf(clients, approvals, ended, archive);
  return archived;
}

export async function archiveExecution(
  { s3 }: { s3: S3Client },
  config: ArchiveConfig,
  record: ExecutionRecord,
  now: Date = new Date(),
): Promise<Archived> {
  const body = recordBody(record);
  const sha = sha256Hex(body);
  const key = recordKey(record);
  if (!(await putOnce(s3, config, key, body, now))) {
    const existing = await readText(s3, config.bucket, key);
    if (existing === undefined || sha256Hex(existing) !== sha) {
      throw new ArchiveConflictError(`${key} is already archived with different content`);
    }
  }

  const summary = summarize(record.events);
  const account = userAccountOf(record);
  const user = userOf(record) ?? NO_USER;
  // Two archivers of the same user can race for the next sequence number; the loser re-reads.
  for (let round = 0; round < 5; round += 1) {
    const chain = await readChain(s3, config.bucket, account, user);
    const done = chain.find((entry) => entry.recordKey === key && entry.recordSha256 === sha);
    if (done)
      return { recordKey: key, chainKey: chainKey(account, user, done.seq), entry: done, alreadyArchived: true };
    const head = chain.at(-1);
    const fields: Omit<ChainEntry, 'digest'> = {
      schema: CHAIN_SCHEMA,
      seq: (head?.seq ?? 0) + 1,
      account,
      user,
      executionArn: record.executionArn,
      redriveCount: record.redriveCount,
      status: record.status,
      outcome: summary.outcome,
      reason: summary.reason,
      stopDate: record.stopDate ?? null,
      recordKey: key,
      recordSha256: sha,
      recordBytes: Buffer.byteLength(body),
      eventCount: record.events.length,
      previousDigest: head?.digest ?? null,
      archivedAt: now.toISOString(),
    };
    const entry: ChainEntry = { ...fields, digest: entryDigest(fields) };
    const link = chainKey(account, user, entry.seq);
    if (await putOnce(s3, config, link, canonicalJson(entry), now)) {
      logger.info('execution archived', { executionArn: record.executionArn, recordKey: key, seq: entry.seq });
      return { recordKey: key, chainKey: link, entry, alreadyArchived: false };
    }
  }
  throw new ArchiveConflictError(`could not append to the chain of ${user}: five concurrent writers won`);
}

/** The archived record of an execution (its latest run), or undefined when none is archived. */
export async function findArchivedRecord(
  { s3 }: { s3: S3Client },
  bucket: string,
  executionArn: string,
): Promise<ExecutionRecord | undefined> {
  const prefix = recordKey({ executionArn, redriveCount: 0 }).replace(/run-0\.json$/, '');
  const runs = await listKeys(s3, bucket, prefix);
  const latest = runs.sort((a, b) => Number(/run-(\d+)/.exec(a)?.[1]) - Number(/run-(\d+)/.exec(b)?.[1])).at(-1);
  const text = latest ? await readText(s3, bucket, latest) : undefined;
  if (!text) return undefined;
  const { schema: _schema, ...record } = JSON.parse(text) as ExecutionRecord & { schema: string };
  return record;
}

/** Archive settings from the environment (KEYROT_ARCHIVE_BUCKET, KEYROT_ARCHIVE_RETENTION_DAYS). */
export function archiveSettings(): ArchiveConfig | undefined {
  const bucket = process.env.KEYROT_ARCHIVE_BUCKET;
  if (!bucket) return undefined;
  const days = Number(process.env.KEYROT_ARCHIVE_RETENTION_DAYS ?? 2557);
  return {
    bucket,
    retentionDays: Number.isInteger(days) && days > 0 ? days : 2557,
    ...(process.env.KEYROT_KMS_KEY_ID ? { kmsKeyId: process.env.KEYROT_KMS_KEY_ID } : {}),
  };
}
