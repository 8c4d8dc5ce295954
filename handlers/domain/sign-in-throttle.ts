import { GetCommand, UpdateCommand, paginateQuery } from '@aws-sdk/lib-dynamodb';
import { BY_IDENTITY } from '../shared/approval-indexes';
import type { Clients, Settings } from '../shared/clients';
import { sha256Hex } from '../shared/digest';
import { InvalidInputError } from '../shared/errors';
import { table, type ApprovalRecord } from './approvals';

/*
 * Sign-in attempts are throttled per approver identity on each approval (NIST SP 800-63B 5.2.2
 * rate limiting, not a lock): the first FREE_ATTEMPTS go straight to Cognito, after that each
 * attempt waits BASE_DELAY_SECONDS doubled per attempt, up to the larger of BASE_DELAY_SECONDS and
 * a hundredth of the approval's lifetime. An attempt is counted (a conditional write) before the
 * password is checked, so concurrent attempts can never go past the allowance. A correct password
 * does not clear the count: after it the approval is decided (or this signer refused), so no later
 * sign-in of that identity on it could sign anything. The counter lives beside the approvals (same
 * table, id `signin#…`), scoped to one approval, so a flood through one link slows only that user
 * name on that approval.
 */

/** Attempts per identity and approval that Cognito sees without a wait. */
export const FREE_ATTEMPTS = 3;
/** The wait after the first attempt past FREE_ATTEMPTS; it doubles with each further attempt. */
export const BASE_DELAY_SECONDS = 10;
/** The longest wait is this fraction of the approval's lifetime (never below BASE_DELAY_SECONDS). */
const CAP_FRACTION = 1 / 100;
/** Failed attempts listed one by one on an approval record; later ones are counted only. */
export const LISTED_FAILURES = 100;
// Cognito's own limit on user names: a longer one cannot exist, so it is refused without a counter.
const IDENTITY_MAX = 128;
// Every concurrent attempt either wins a round or sees another's win, so this is never reached
// below FREE_ATTEMPTS + 1 competitors per count; beyond it the attempt is throttled.
const ROUNDS = 8;
const PREFIX = 'signin#';

/** One identity's attempts on one approval, as stored. */
interface ThrottleItem {
  approvalId: string;
  forApproval: string;
  identity: string;
  attempts: number;
  lastAttemptAt: string;
  /** No attempt is counted (or checked) before this instant; absent while attempts are free. */
  notBefore?: string;
  /** DynamoDB time to live (epoch seconds): a day after the approval expires. */
  ttl: number;
}

/** One failed sign-in, as the approval record lists it: never the password. */
export interface FailedSignIn {
  at: string;
  /**
   * Who tried: the account's user name when the pool authenticated it (and the approval refused
   * it), else `unverified name #<keyed digest>` of the text typed (never the text itself).
   */
  identity: string;
  /** The identity's attempt number on this approval. */
  attempt: number;
  /** Why it failed, for the audit trail (never shown to whoever signs in). */
  why?: string;
}

/** The attempt may go to Cognito (`attempt` is its number), or must wait until `notBefore`. */
export type Claim = { allowed: true; attempt: number } | { allowed: false; notBefore: string; retryAfter: number };

/**
 * The identity a typed user name counts against: NFKC, trimmed, lower case, so `System-Owner`,
 * ` system-owner ` and full-width letters share one counter. Undefined when no account can have it.
 */
export function signInIdentity(typed: string): string | undefined {
  const identity = typed.normalize('NFKC').trim().toLowerCase();
  return identity && identity.length <= IDENTITY_MAX ? identity : undefined;
}

/** The wait after `attempts` counted attempts, on an approval that lives `lifetimeMs`. */
export function delayAfter(attempts: number, lifetimeMs: number): number {
  if (attempts < FREE_ATTEMPTS) return 0;
  const cap = Math.max(BASE_DELAY_SECONDS, Math.floor((lifetimeMs / 1000) * CAP_FRACTION));
  return Math.min(BASE_DELAY_SECONDS * 2 ** Math.min(attempts - FREE_ATTEMPTS, 30), cap);
}

const itemId = (approvalId: string, identity: string) => `${PREFIX}${approvalId}#${sha256Hex(identity)}`;
const throttled = (notBefore: Date, now: Date): Claim => ({
  allowed: false,
  notBefore: notBefore.toISOString(),
  retryAfter: Math.max(1, Math.ceil((notBefore.getTime() - now.getTime()) / 1000)),
});

/**
 * Count one sign-in attempt of `identity` on `record` before its password is checked: a read,
 * then a write conditional on the count read, retried when a concurrent attempt won the count.
 */
export async function claimAttempt(
  { ddb }: Pick<Clients, 'ddb'>,
  config: Pick<Settings, 'approvalsTable'>,
  record: Pick<ApprovalRecord, 'approvalId' | 'requestedAt' | 'expiresAt'>,
  identity: string,
  now: Date,
): Promise<Claim> {
  const key = { approvalId: itemId(record.approvalId, identity) };
  const lifetime = Date.parse(record.expiresAt) - Date.parse(record.requestedAt);
  for (let round = 0; round < ROUNDS; round += 1) {
    const found = await ddb.send(new GetCommand({ TableName: table(config), Key: key, ConsistentRead: true }));
    const current = found.Item as ThrottleItem | undefined;
    if (current?.notBefore && current.notBefore > now.toISOString()) {
      return throttled(new Date(current.notBefore), now);
    }
    const attempt = (current?.attempts ?? 0) + 1;
    const wait = delayAfter(attempt, lifetime);
    // Without a wait there is no instant to keep: a concurrent attempt timed a little earlier must not see one.
    const notBefore = wait > 0 ? new Date(now.getTime() + wait * 1000).toISOString() : undefined;
    try {
      await ddb.send(
        new UpdateCommand({
          TableName: table(config),
          Key: key,
          UpdateExpression:
            'SET attempts = :attempt, forApproval = :approval, #identity = :identity, lastAttemptAt = :now, ' +
            `#ttl = :ttl${notBefore ? ', notBefore = :notBefore' : ' REMOVE notBefore'}`,
          ConditionExpression: current ? 'attempts = :read' : 'attribute_not_exists(approvalId)',
          ExpressionAttributeNames: { '#identity': 'identity', '#ttl': 'ttl' },
          ExpressionAttributeValues: {
            ':attempt': attempt,
            ':approval': record.approvalId,
            ':identity': identity,
            ':now': now.toISOString(),
            ...(notBefore ? { ':notBefore': notBefore } : {}),
            ':ttl': Math.floor(Date.parse(record.expiresAt) / 1000) + 86_400,
            ...(current ? { ':read': current.attempts } : {}),
          },
        }),
      );
      return { allowed: true, attempt };
    } catch (error) {
      if (!(error instanceof Error && error.name === 'ConditionalCheckFailedException')) throw error;
    }
  }
  return throttled(new Date(now.getTime() + 1000), now);
}

/**
 * Put a failed sign-in on the approval record (the audit trail): the first LISTED_FAILURES one by
 * one, every one in `failedSignInCount`; an attempt refused by the throttle in `throttledSignIns`.
 * Counts and list stay bounded however long a flood lasts.
 */
export async function recordFailure(
  { ddb }: Pick<Clients, 'ddb'>,
  config: Pick<Settings, 'approvalsTable'>,
  approvalId: string,
  failure: FailedSignIn | 'THROTTLED',
): Promise<void> {
  const add = (counter: string) =>
    ddb.send(
      new UpdateCommand({
        TableName: table(config),
        Key: { approvalId },
        UpdateExpression: `ADD ${counter} :one`,
        ExpressionAttributeValues: { ':one': 1 },
      }),
    );
  if (failure === 'THROTTLED') {
    await add('throttledSignIns');
    return;
  }
  try {
    await ddb.send(
      new UpdateCommand({
        TableName: table(config),
        Key: { approvalId },
        UpdateExpression:
          'SET failedSignIns = list_append(if_not_exists(failedSignIns, :empty), :failure) ADD failedSignInCount :one',
        ConditionExpression: 'attribute_not_exists(failedSignIns) OR size(failedSignIns) < :listed',
        ExpressionAttributeValues: { ':empty': [], ':failure': [failure], ':one': 1, ':listed': LISTED_FAILURES },
      }),
    );
  } catch (error) {
    if (!(error instanceof Error && error.name === 'ConditionalCheckFailedException')) throw error;
    await add('failedSignInCount');
  }
}

/**
 * `keyrot approvers unlock`: every count of this user name (normalized as at sign-in) starts
 * again, on every approval. Returns how many approvals had attempts counted.
 */
export async function unlockIdentity(
  { ddb }: Pick<Clients, 'ddb'>,
  config: Pick<Settings, 'approvalsTable'>,
  username: string,
  now: Date = new Date(),
): Promise<number> {
  const identity = signInIdentity(username);
  if (!identity) throw new InvalidInputError('the user name is empty or longer than 128 characters');
  const items: Pick<ThrottleItem, 'approvalId' | 'attempts'>[] = [];
  const pages = paginateQuery(
    { client: ddb },
    {
      TableName: table(config),
      IndexName: BY_IDENTITY.name,
      KeyConditionExpression: '#identity = :identity',
      FilterExpression: 'attempts > :zero',
      ExpressionAttributeNames: { '#identity': BY_IDENTITY.partitionKey },
      ExpressionAttributeValues: { ':identity': identity, ':zero': 0 },
    },
  );
  for await (const page of pages) items.push(...((page.Items ?? []) as typeof items));
  for (const item of items) {
    await ddb.send(
      new UpdateCommand({
        TableName: table(config),
        Key: { approvalId: item.approvalId },
        UpdateExpression: 'SET attempts = :zero, unlockedAt = :now REMOVE notBefore',
        ExpressionAttributeValues: { ':zero': 0, ':now': now.toISOString() },
      }),
    );
  }
  return items.length;
}
