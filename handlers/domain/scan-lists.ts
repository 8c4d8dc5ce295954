import { GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { DueUser } from './start-rotation';

/**
 * Users per due list. Step Functions state holds only the lists' keys and counts, so a scan of
 * any size and any user-name length stays far below the 256 KiB state limit; one Start Rotations
 * iteration starts one list (a few seconds of StartExecution calls at the scan's concurrency).
 */
export const DUE_LIST_SIZE = 500;

/** Failures an iteration names in its result (the rest are counted): bounds the map's output. */
const NAMED_FAILURES = 10;

/** Where a scan's due lists and start results live: one folder per scan execution. */
export const scanFolder = (scanName: string): string => `scans/${scanName}/`;

/** One due list in S3, as the map iterates it. */
export interface DueList {
  key: string;
  count: number;
}

/** What starting one user of a list came to. */
export interface StartOutcome {
  userName: string;
  account?: string;
  /** The rotation's execution name. */
  name?: string;
  started: boolean;
  /** The error's name when the start failed (after the SDK's retries). */
  failed?: string;
}

/** What one iteration returns to the map: counts, a few named failures, where the full record is. */
export interface ListOutcome {
  key: string;
  resultKey: string;
  count: number;
  started: number;
  alreadyStarted: number;
  failed: number;
  failures: string[];
}

/**
 * Write the due users in lists of `size`, encrypted by the bucket's default key. Keys depend only
 * on the scan and the list's position, so a retried scan overwrites its own lists.
 */
export async function writeDueLists(
  s3: S3Client,
  bucket: string,
  folder: string,
  due: DueUser[],
  size = DUE_LIST_SIZE,
): Promise<DueList[]> {
  const lists: DueList[] = [];
  for (let start = 0; start < due.length; start += size) {
    const users = due.slice(start, start + size);
    const key = `${folder}due-${String(lists.length).padStart(5, '0')}.json`;
    await s3.send(
      new PutObjectCommand({
        Bucket: bucket,
        Key: key,
        Body: JSON.stringify(users),
        ContentType: 'application/json',
      }),
    );
    lists.push({ key, count: users.length });
  }
  return lists;
}

/** One due list back from S3; anything but a list of user names (and accounts) is refused. */
export async function readDueList(s3: S3Client, bucket: string, key: string): Promise<DueUser[]> {
  const object = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  const parsed = JSON.parse((await object.Body?.transformToString()) ?? '[]') as unknown;
  const valid = (item: unknown): item is DueUser =>
    typeof (item as DueUser)?.userName === 'string' &&
    ((item as DueUser).account === undefined || /^\d{12}$/.test((item as DueUser).account ?? ''));
  if (!Array.isArray(parsed) || !parsed.every(valid)) throw new Error(`${key} is not a due list`);
  return parsed.map(({ userName, account }) => ({ userName, ...(account ? { account } : {}) }));
}

/**
 * Start every user of a list, `atOnce` at a time. A user whose start fails after the SDK's own
 * retries is recorded as failed and the others go on, as the per-user map did before.
 */
export async function startAll(
  due: DueUser[],
  start: (user: DueUser) => Promise<{ name: string; started: boolean }>,
  atOnce: number,
): Promise<StartOutcome[]> {
  const outcomes: StartOutcome[] = new Array(due.length);
  let next = 0;
  const worker = async () => {
    for (let index = next++; index < due.length; index = next++) {
      const user = due[index] as DueUser;
      try {
        outcomes[index] = { ...user, ...(await start(user)) };
      } catch (error) {
        outcomes[index] = { ...user, started: false, failed: (error as Error).name };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(atOnce, due.length)) }, worker));
  return outcomes;
}

/** Record a list's outcomes beside it (who was started, under which execution name) and count them. */
export async function recordOutcomes(
  s3: S3Client,
  bucket: string,
  key: string,
  outcomes: StartOutcome[],
): Promise<ListOutcome> {
  const resultKey = key.replace(/due-(\d+)\.json$/, 'started-$1.json');
  await s3.send(
    new PutObjectCommand({
      Bucket: bucket,
      Key: resultKey,
      Body: JSON.stringify(outcomes),
      ContentType: 'application/json',
    }),
  );
  const failures = outcomes.filter((outcome) => outcome.failed);
  const started = outcomes.filter((outcome) => outcome.started).length;
  return {
    key,
    resultKey,
    count: outcomes.length,
    started,
    alreadyStarted: outcomes.length - started - failures.length,
    failed: failures.length,
    failures: failures
      .slice(0, NAMED_FAILURES)
      .map((outcome) => `${outcome.account ? `${outcome.account}/` : ''}${outcome.userName}: ${outcome.failed}`),
  };
}
