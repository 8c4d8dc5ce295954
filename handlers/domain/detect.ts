import { GetAccessKeyLastUsedCommand, GetUserCommand, ListUserTagsCommand } from '@aws-sdk/client-iam';
import type { Clients, Settings } from '../shared/clients';
import { InvalidInputError, UserNotFoundError } from '../shared/errors';
import { logger } from '../shared/logger';
import { describeIssues, ExecutionInput, type Decision, type KeySummary, type RotationState } from '../shared/schemas';
import { isNoSuchEntity, listKeys } from './keys';

const DAY_MS = 86_400_000;

export interface DetectRequest {
  /** The raw execution input, validated here so bad input changes nothing. */
  input: unknown;
  executionId: string;
  startedAt: string;
}

/**
 * Step 1: validate the request (before any AWS call, even the member account's AssumeRole),
 * read the user's keys, their age and last use, and decide ROTATE / NOT_DUE / NO_KEY / EXEMPT /
 * BLOCKED. Reads only; never changes anything.
 */
export async function detectKeys(
  clientsIn: (account: string | undefined) => Promise<Pick<Clients, 'iam'>>,
  config: Pick<Settings, 'secretPrefix' | 'exemptTag'>,
  request: DetectRequest,
): Promise<RotationState> {
  const parsed = ExecutionInput.safeParse(request.input);
  if (!parsed.success) throw new InvalidInputError(`invalid execution input: ${describeIssues(parsed.error)}`);
  const input = parsed.data;
  // Only valid input picks the account: a member account's role is assumed after this line.
  const { iam } = await clientsIn(input.account);
  const asOf = input.asOf ?? request.startedAt;

  let userArn: string;
  try {
    const user = await iam.send(new GetUserCommand({ UserName: input.userName }));
    userArn = user.User?.Arn ?? '';
  } catch (error) {
    if (isNoSuchEntity(error)) throw new UserNotFoundError(`IAM user ${input.userName} does not exist`);
    throw error;
  }

  const tags = await iam.send(new ListUserTagsCommand({ UserName: input.userName }));
  const exemption = tags.Tags?.find((tag) => tag.Key === config.exemptTag);

  const keys: KeySummary[] = [];
  for (const key of await listKeys(iam, input.userName)) {
    const lastUsed = await iam.send(new GetAccessKeyLastUsedCommand({ AccessKeyId: key.AccessKeyId }));
    const created = key.CreateDate ?? new Date(0);
    keys.push({
      keyId: key.AccessKeyId ?? '',
      status: key.Status ?? 'Inactive',
      createdAt: created.toISOString(),
      ageDays: Math.floor((Date.parse(asOf) - created.getTime()) / DAY_MS),
      lastUsedAt: lastUsed.AccessKeyLastUsed?.LastUsedDate?.toISOString() ?? null,
    });
  }

  const { decision, reason, oldKeyId } = decide(keys, {
    maxAgeDays: input.config.maxAgeDays,
    force: input.force,
    exemption: exemption ? (exemption.Value ?? 'no reason given') : undefined,
  });
  logger.info('detected', { userName: input.userName, decision, reason, keyIds: keys.map((k) => k.keyId) });

  return {
    executionId: request.executionId,
    startedAt: request.startedAt,
    userName: input.userName,
    ...(input.account ? { account: input.account } : {}),
    userArn,
    requestedBy: input.requestedBy,
    asOf,
    force: input.force,
    secretId: `${config.secretPrefix}${input.userName}`,
    config: input.config,
    detection: { decision, reason, oldKeyId, keys },
  };
}

/** The rotation decision for a user's keys. Pure, so every boundary is unit-tested. */
export function decide(
  keys: KeySummary[],
  rules: { maxAgeDays: number; force: boolean; exemption: string | undefined },
): { decision: Decision; reason: string; oldKeyId: string | null } {
  if (rules.exemption !== undefined) {
    return { decision: 'EXEMPT', reason: `user is exempt: ${rules.exemption}`, oldKeyId: null };
  }
  const active = keys.filter((key) => key.status === 'Active');
  if (keys.length >= 2) {
    const listed = keys.map((key) => `${key.keyId} (${key.status})`).join(', ');
    const why =
      active.length === 2
        ? 'two active keys: a human must decide which one is in use'
        : 'two keys exist, so IAM has no room for a new one: delete the unused key first';
    return { decision: 'BLOCKED', reason: `${why}; keys: ${listed}; nothing was changed`, oldKeyId: null };
  }
  const [key] = active;
  if (!key) {
    const reason = keys.length === 0 ? 'user has no access key' : 'user has no active access key';
    return { decision: 'NO_KEY', reason, oldKeyId: null };
  }
  if (rules.force) return { decision: 'ROTATE', reason: `forced rotation of ${key.keyId}`, oldKeyId: key.keyId };
  if (key.ageDays >= rules.maxAgeDays) {
    return {
      decision: 'ROTATE',
      reason: `${key.keyId} is ${key.ageDays} days old (maximum ${rules.maxAgeDays})`,
      oldKeyId: key.keyId,
    };
  }
  return {
    decision: 'NOT_DUE',
    reason: `${key.keyId} is ${key.ageDays} days old; due at ${rules.maxAgeDays}`,
    oldKeyId: key.keyId,
  };
}
