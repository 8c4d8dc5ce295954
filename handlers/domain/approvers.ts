import {
  AdminCreateUserCommand,
  AdminDeleteUserCommand,
  AdminDisableUserCommand,
  ListUserPoolsCommand,
  ListUsersCommand,
  type AttributeType,
  type CognitoIdentityProviderClient,
  type UserType,
} from '@aws-sdk/client-cognito-identity-provider';
import { GetCommand, PutCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { InvalidInputError } from '../shared/errors';

/** The name of the approvers' pool local mode seeds into moto (local/seed.ts creates it). */
export const LOCAL_APPROVER_POOL_NAME = 'keyrot-approvers';

/** An account with this user name is already in the pool. */
export class ApproverExistsError extends Error {
  override readonly name = 'ApproverExists';
}

/** No account with this user name is in the pool. */
export class ApproverNotFoundError extends Error {
  override readonly name = 'ApproverNotFound';
}

/** The user pool itself does not exist (or is not visible to these credentials). */
export class ApproverPoolNotFoundError extends Error {
  override readonly name = 'ApproverPoolNotFound';
}

/** What an administrator enters to onboard an approver. */
export interface NewApprover {
  username: string;
  /** The printed name on every signature (21 CFR 11.50), set here and never by the approver. */
  name: string;
  email: string;
  /** The IAM principal this approver also acts as (never may they approve what it requested). */
  principalArn?: string;
}

/**
 * An approver as keyrot's own directory holds them, by the pool's `sub`: written by an
 * administrator (`keyrot approvers add`), read by the approval function when they sign. The
 * pool's `name` attribute is not used for signatures: Cognito lets a user rewrite it with
 * their own access token wherever the app client's write attributes are not enforced.
 */
export interface DirectoryEntry {
  sub: string;
  username: string;
  name: string;
  principalArn?: string;
  /** ISO-8601, UTC. */
  addedAt: string;
}

/** An account in the approvers' pool, as `keyrot approvers list` shows it. */
export interface Approver {
  username: string;
  /** The pool's immutable id for the account. */
  sub: string | undefined;
  name: string | undefined;
  email: string | undefined;
  /** Cognito's user status: CONFIRMED, FORCE_CHANGE_PASSWORD, RESET_REQUIRED, ... */
  status: string;
  enabled: boolean;
  /** ISO-8601, UTC. */
  created: string | undefined;
}

// Cognito allows any non-whitespace user name up to 128 characters; a strict ASCII subset keeps
// names that look alike from being told apart only by invisible or confusable characters.
const USERNAME = /^[A-Za-z0-9._@+-]{1,128}$/;
// Cognito's own constraint on a user pool id: [\w-]+_[0-9a-zA-Z]+, at most 55 characters.
const POOL_ID = /^[\w-]+_[0-9a-zA-Z]+$/;
const POOL_ID_MAX = 55;
// A plausible address, not RFC 5322: one @, a dot in the domain, no whitespace or controls.
const EMAIL = /^[^\s@]+@[^\s@.]+(\.[^\s@.]+)+$/;
const NAME_MAX = 256;
const EMAIL_MAX = 254;
// An IAM user or role ARN (what `requestedBy` holds for an authenticated operator).
const PRINCIPAL = /^arn:aws[\w-]*:iam::\d{12}:(user|role)\/[\w+=,.@/-]{1,512}$/;
// Characters that would let a printed name render differently from what is stored: C0/C1
// controls, line and paragraph separators, and the bidirectional embedding/override/isolate marks.
const UNPRINTABLE = /[\p{Cc}\u2028\u2029\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/u;

/** A value as it is safe to show in a one-line error: printable ASCII kept, the rest escaped, bounded. */
export function shown(value: string, max = 60): string {
  const escaped = [...value]
    .map((char) => (/^[\x20-\x7e]$/.test(char) ? char : `\\u{${char.codePointAt(0)?.toString(16)}}`))
    .join('');
  return JSON.stringify(escaped.length > max ? `${escaped.slice(0, max)}…` : escaped);
}

const codePoint = (char: string) => `U+${(char.codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, '0')}`;

/** Check a user pool id's shape before it reaches an AWS call. */
export function validatePoolId(poolId: string): string {
  if (poolId.length > POOL_ID_MAX || !POOL_ID.test(poolId)) {
    throw new InvalidInputError(
      `user pool id ${shown(poolId)} is not a Cognito user pool id (like us-east-1_AbC123xyz)`,
    );
  }
  return poolId;
}

/** Check the user name alone (add and remove), naming the problem. */
export function validateUsername(username: string): string {
  if (!USERNAME.test(username)) {
    throw new InvalidInputError(
      `user name ${shown(username)} is not allowed: 1-128 characters of A-Z a-z 0-9 . _ @ + - (no spaces)`,
    );
  }
  return username;
}

/**
 * Check a new approver before any AWS call; the first problem found is the error. The printed
 * name is trimmed and NFC-normalised, so one name is stored one way.
 */
export function validateApprover(input: {
  username: string;
  name?: string;
  email?: string;
  principalArn?: string;
}): NewApprover {
  const username = validateUsername(input.username);
  const name = (input.name ?? '').normalize('NFC').trim();
  if (name.length === 0) throw new InvalidInputError('the printed name (--name) is required and may not be blank');
  const bad = UNPRINTABLE.exec(name);
  if (bad) {
    throw new InvalidInputError(
      `the printed name contains a control or bidirectional character (${codePoint(bad[0])}) at position ${[...name.slice(0, bad.index)].length + 1}`,
    );
  }
  if ([...name].length > NAME_MAX) {
    throw new InvalidInputError(`the printed name is ${[...name].length} characters; at most ${NAME_MAX} are allowed`);
  }
  const email = (input.email ?? '').trim();
  if (email.length === 0) throw new InvalidInputError('the e-mail address (--email) is required');
  if (email.length > EMAIL_MAX || UNPRINTABLE.test(email) || !EMAIL.test(email)) {
    throw new InvalidInputError(`e-mail address ${shown(email)} is not a plausible address (like name@example.com)`);
  }
  const principalArn = input.principalArn?.trim();
  if (principalArn !== undefined && !PRINCIPAL.test(principalArn)) {
    throw new InvalidInputError(
      `principal ${shown(principalArn)} is not an IAM user or role ARN (like arn:aws:iam::123456789012:user/alice)`,
    );
  }
  return { username, name, email, ...(principalArn ? { principalArn } : {}) };
}

/** Turn Cognito's errors about the pool or the user into keyrot's named ones. */
function named(error: unknown, poolId: string, username?: string): unknown {
  const name = error instanceof Error ? error.name : '';
  if (name === 'ResourceNotFoundException') return new ApproverPoolNotFoundError(`user pool ${poolId} does not exist`);
  if (name === 'UserNotFoundException' && username)
    return new ApproverNotFoundError(`no approver named ${shown(username)} in user pool ${poolId}`);
  if (name === 'UsernameExistsException' && username)
    return new ApproverExistsError(`an approver named ${shown(username)} already exists in user pool ${poolId}`);
  return error;
}

const attribute = (attributes: AttributeType[] | undefined, name: string) =>
  attributes?.find((candidate) => candidate.Name === name)?.Value;

const approverOf = (user: UserType): Approver => ({
  username: user.Username ?? '',
  sub: attribute(user.Attributes, 'sub'),
  name: attribute(user.Attributes, 'name'),
  email: attribute(user.Attributes, 'email'),
  status: user.UserStatus ?? 'UNKNOWN',
  enabled: user.Enabled ?? false,
  created: user.UserCreateDate?.toISOString(),
});

/**
 * Create an approver's account with the administrator's printed name and e-mail, and their
 * entry in keyrot's directory (the printed name signatures carry, by the new account's `sub`).
 * Cognito generates a temporary password and e-mails it; the approver chooses their own
 * password at first sign-in (status FORCE_CHANGE_PASSWORD), so no password passes through keyrot.
 */
export async function addApprover(
  { cognito, ddb }: { cognito: CognitoIdentityProviderClient; ddb: DynamoDBDocumentClient },
  where: { poolId: string; table: string },
  input: NewApprover,
  now: Date = new Date(),
): Promise<Approver> {
  const approver = validateApprover(input);
  const { poolId } = where;
  let created: Approver;
  try {
    const answer = await cognito.send(
      new AdminCreateUserCommand({
        UserPoolId: validatePoolId(poolId),
        Username: approver.username,
        UserAttributes: [
          { Name: 'name', Value: approver.name },
          { Name: 'email', Value: approver.email },
          // The administrator vouches for the address the invitation goes to.
          { Name: 'email_verified', Value: 'true' },
        ],
        DesiredDeliveryMediums: ['EMAIL'],
      }),
    );
    created = approverOf(answer.User ?? { Username: approver.username });
  } catch (error) {
    throw named(error, poolId, approver.username);
  }
  if (!created.sub) throw new Error(`Cognito returned no sub for ${shown(approver.username)} in user pool ${poolId}`);
  await putDirectoryEntry(ddb, where.table, {
    sub: created.sub,
    username: created.username,
    name: approver.name,
    ...(approver.principalArn ? { principalArn: approver.principalArn } : {}),
    addedAt: now.toISOString(),
  });
  return created;
}

const directoryKey = (sub: string) => `approver#${sub}`;

/** Write an approver's directory entry (in the approvals table), replacing an older one for the same sub. */
export async function putDirectoryEntry(
  ddb: DynamoDBDocumentClient,
  table: string,
  entry: DirectoryEntry,
): Promise<void> {
  await ddb.send(new PutCommand({ TableName: table, Item: { approvalId: directoryKey(entry.sub), ...entry } }));
}

/** The directory entry for a pool `sub`, or undefined when an administrator never added one. */
export async function directoryEntry(
  ddb: DynamoDBDocumentClient,
  table: string,
  sub: string,
): Promise<DirectoryEntry | undefined> {
  const found = await ddb.send(new GetCommand({ TableName: table, Key: { approvalId: directoryKey(sub) } }));
  if (!found.Item) return undefined;
  const { approvalId: _key, ...entry } = found.Item;
  return entry as DirectoryEntry;
}

/** Every account in the pool (ListUsers, all pages), sorted by user name. */
export async function listApprovers(cognito: CognitoIdentityProviderClient, poolId: string): Promise<Approver[]> {
  const approvers: Approver[] = [];
  let token: string | undefined;
  // Bounded: 60 users a page, so 1,000 pages is 60,000 accounts, far past any approver list.
  for (let page = 0; page < 1000; page += 1) {
    let listed;
    try {
      listed = await cognito.send(
        new ListUsersCommand({ UserPoolId: validatePoolId(poolId), Limit: 60, PaginationToken: token }),
      );
    } catch (error) {
      throw named(error, poolId);
    }
    approvers.push(...(listed.Users ?? []).map(approverOf));
    token = listed.PaginationToken;
    if (!token) break;
  }
  return approvers.sort((a, b) => a.username.localeCompare(b.username));
}

/** Delete an approver's account, or with `disable` keep it (and its history) but refuse its sign-in. */
export async function removeApprover(
  cognito: CognitoIdentityProviderClient,
  poolId: string,
  username: string,
  options: { disable?: boolean } = {},
): Promise<void> {
  const input = { UserPoolId: validatePoolId(poolId), Username: validateUsername(username) };
  try {
    await cognito.send(options.disable ? new AdminDisableUserCommand(input) : new AdminDeleteUserCommand(input));
  } catch (error) {
    throw named(error, poolId, username);
  }
}

/** The ids of the user pools with this name (ListUserPools, all pages). */
export async function poolsNamed(cognito: CognitoIdentityProviderClient, name: string): Promise<string[]> {
  const ids: string[] = [];
  let token: string | undefined;
  for (let page = 0; page < 1000; page += 1) {
    const listed = await cognito.send(new ListUserPoolsCommand({ MaxResults: 60, NextToken: token }));
    ids.push(...(listed.UserPools ?? []).filter((pool) => pool.Name === name).map((pool) => pool.Id ?? ''));
    token = listed.NextToken;
    if (!token) break;
  }
  return ids.filter(Boolean);
}
