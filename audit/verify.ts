import { GetObjectCommand, ListObjectVersionsCommand, type S3Client } from '@aws-sdk/client-s3';
import { entryDigest, type ChainEntry } from '../handlers/domain/archive';
import type { ExecutionRecord } from '../handlers/domain/execution-record';
import { sha256Hex } from '../handlers/shared/digest';
import { replay, type ReplayOptions } from './replay';

/** One thing wrong in the archive, named by the object it was found in. */
export interface Finding {
  key: string;
  problem: string;
}

export interface ChainSummary {
  account: string;
  user: string;
  entries: number;
  intact: boolean;
}

export interface VerifyReport {
  bucket: string;
  chains: ChainSummary[];
  records: number;
  findings: Finding[];
}

interface Versions {
  count: number;
  /** The first version written: the one Object Lock protects. */
  original: string;
  /** The newest version is a delete marker: a plain DELETE hid the (still locked) object. */
  deleted: boolean;
}

/** Every key under a prefix with how many versions it has, from ListObjectVersions. */
async function versionsUnder(s3: S3Client, bucket: string, prefix: string): Promise<Map<string, Versions>> {
  const keys = new Map<string, Versions>();
  const entry = (key: string) => keys.get(key) ?? keys.set(key, { count: 0, original: '', deleted: false }).get(key)!;
  let keyMarker: string | undefined;
  let versionIdMarker: string | undefined;
  do {
    const page = await s3.send(
      new ListObjectVersionsCommand({
        Bucket: bucket,
        Prefix: prefix,
        KeyMarker: keyMarker,
        VersionIdMarker: versionIdMarker,
      }),
    );
    // Versions come newest first, so the last one seen for a key is the original.
    for (const version of page.Versions ?? []) {
      const found = entry(version.Key ?? '');
      found.count += 1;
      found.original = version.VersionId ?? '';
    }
    for (const marker of page.DeleteMarkers ?? []) if (marker.IsLatest) entry(marker.Key ?? '').deleted = true;
    keyMarker = page.IsTruncated ? page.NextKeyMarker : undefined;
    versionIdMarker = page.IsTruncated ? page.NextVersionIdMarker : undefined;
  } while (keyMarker);
  return keys;
}

/** The current content of a key or, when a delete marker hides it, its locked original. */
async function read(s3: S3Client, bucket: string, key: string, versions?: Versions): Promise<string | undefined> {
  const versionId = versions?.deleted && versions.original ? versions.original : undefined;
  try {
    const object = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key, VersionId: versionId }));
    return await object.Body?.transformToString();
  } catch (error) {
    if (error instanceof Error && (error.name === 'NoSuchKey' || error.name === 'NotFound')) return undefined;
    throw error;
  }
}

function tampering(key: string, versions: Versions | undefined): Finding[] {
  if (!versions) return [{ key, problem: 'missing' }];
  const findings: Finding[] = [];
  if (versions.deleted)
    findings.push({ key, problem: 'deleted: a delete marker hides it (the locked original remains)' });
  if (versions.count > 1)
    findings.push({ key, problem: `overwritten: ${versions.count} versions exist where one was written` });
  return findings;
}

/** What the record itself says is wrong: an incomplete history, a signature that does not belong. */
function inspectRecord(key: string, record: ExecutionRecord, entry: ChainEntry, options: ReplayOptions): Finding[] {
  const findings: Finding[] = [];
  if (record.executionArn !== entry.executionArn)
    findings.push({ key, problem: `holds ${record.executionArn}, but its chain entry names ${entry.executionArn}` });
  const replayed = replay(record, options);
  for (const gap of replayed.gaps) findings.push({ key, problem: `incomplete history: ${gap}` });
  for (const signature of replayed.signatures) {
    if (!signature.verified)
      findings.push({
        key,
        problem: `${signature.forged ? 'FORGED ' : ''}signature at ${signature.state}: ${signature.problems.join('; ')}`,
      });
  }
  return findings;
}

/**
 * Walk every chain in the evidence archive (or one user's): each entry's digest, its link to
 * the entry before, the record's SHA-256 and content, and S3's version list, which shows any
 * overwrite or delete even where the bytes were made consistent again; every signature's KMS
 * signature is checked offline with `filter.publicKey` (without it, no signature verifies).
 */
export async function verifyArchive(
  s3: S3Client,
  bucket: string,
  filter: { user?: string } & ReplayOptions = {},
  progress: (line: string) => void = () => {},
): Promise<VerifyReport> {
  const chainVersions = await versionsUnder(s3, bucket, 'chain/');
  const recordVersions = await versionsUnder(s3, bucket, 'records/');
  const chains = new Map<string, string[]>();
  for (const key of [...chainVersions.keys()].sort()) {
    const [, account, user] = key.split('/');
    if (filter.user && user !== filter.user) continue;
    const id = `${account}/${user}`;
    chains.set(id, [...(chains.get(id) ?? []), key]);
  }

  const findings: Finding[] = [];
  const summaries: ChainSummary[] = [];
  const chained = new Set<string>();
  for (const [id, keys] of chains) {
    const [account = '', user = ''] = id.split('/');
    const before = findings.length;
    let expected = 1;
    let previous: string | null | undefined = null;
    for (const key of keys) {
      const seq = Number(/(\d+)\.json$/.exec(key)?.[1]);
      if (seq !== expected) {
        findings.push({
          key,
          problem: seq > expected ? `entries ${expected}–${seq - 1} are missing before it` : 'out of sequence',
        });
        previous = undefined;
      }
      expected = seq + 1;
      findings.push(...tampering(key, chainVersions.get(key)));
      const text = await read(s3, bucket, key, chainVersions.get(key));
      let entry: ChainEntry;
      try {
        entry = JSON.parse(text ?? '') as ChainEntry;
      } catch {
        findings.push({ key, problem: 'unreadable: not a chain entry' });
        previous = undefined;
        continue;
      }
      if (entry.seq !== seq) findings.push({ key, problem: `says it is entry ${entry.seq}, but is stored as ${seq}` });
      if (entryDigest(entry) !== entry.digest) findings.push({ key, problem: 'changed: its digest does not match it' });
      if (previous !== undefined && entry.previousDigest !== previous)
        findings.push({ key, problem: 'broken link: previousDigest is not the digest of the entry before it' });
      previous = entry.digest;

      chained.add(entry.recordKey);
      findings.push(...tampering(entry.recordKey, recordVersions.get(entry.recordKey)));
      const body = await read(s3, bucket, entry.recordKey, recordVersions.get(entry.recordKey));
      if (body === undefined) continue;
      if (sha256Hex(body) !== entry.recordSha256) {
        findings.push({ key: entry.recordKey, problem: 'changed: its SHA-256 is not the one chained' });
      }
      try {
        findings.push(...inspectRecord(entry.recordKey, JSON.parse(body) as ExecutionRecord, entry, filter));
      } catch {
        findings.push({ key: entry.recordKey, problem: 'unreadable: not an execution record' });
      }
    }
    summaries.push({ account, user, entries: keys.length, intact: findings.length === before });
    progress(`${findings.length === before ? 'ok  ' : 'FAIL'} ${account}/${user}: ${keys.length} record(s)`);
  }
  if (!filter.user) {
    for (const key of recordVersions.keys()) {
      if (!chained.has(key)) findings.push({ key, problem: 'in no chain: archived but never linked' });
    }
  }
  return { bucket, chains: summaries, records: chained.size, findings };
}
