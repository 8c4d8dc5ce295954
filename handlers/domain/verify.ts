import { GetAccessKeyLastUsedCommand } from '@aws-sdk/client-iam';
import { ResourceNotFoundException } from '@aws-sdk/client-secrets-manager';
import { GetCallerIdentityCommand } from '@aws-sdk/client-sts';
import type { Clients } from '../shared/clients';
import {
  KeyMissingError,
  NewKeyNotValidError,
  OldKeyStillAcceptedError,
  SecretMismatchError,
  ValidationTimeoutError,
  WrongIdentityError,
} from '../shared/errors';
import { logger } from '../shared/logger';
import type { StateWithNewKey } from '../shared/schemas';
import { listKeys } from './keys';
import { readKey } from './secret';

/** Errors STS gives for a key it does not (or no longer) accept. */
const REFUSALS = new Set(['InvalidClientTokenId', 'SignatureDoesNotMatch', 'AccessDenied', 'ExpiredToken']);

/**
 * Step 6: sign `GetCallerIdentity` with the new key as stored in AWSCURRENT and require the
 * user's own ARN. A refusal is `NewKeyNotValid`, which the state machine retries with backoff,
 * unless the key is gone from IAM (`KeyMissing`, straight to the rollback).
 */
export async function verifyNewKey(
  { iam, secrets, stsFor }: Pick<Clients, 'iam' | 'secrets' | 'stsFor'>,
  state: StateWithNewKey,
): Promise<{ keyId: string; arn: string; verifiedAt: string }> {
  const stored = await readKey(secrets, state.secretId, { VersionStage: 'AWSCURRENT' }, state.detection.secretFormat);
  if (stored.accessKeyId !== state.created.newKeyId) {
    throw new SecretMismatchError(
      `AWSCURRENT of ${state.secretId} holds ${stored.accessKeyId}, expected ${state.created.newKeyId}`,
    );
  }
  let arn: string | undefined;
  try {
    arn = (await stsFor(stored).send(new GetCallerIdentityCommand({}))).Arn;
  } catch (error) {
    if (error instanceof Error && REFUSALS.has(error.name)) {
      // Waiting out eventual consistency only makes sense for a key that still exists.
      if (!(await listKeys(iam, state.userName)).some((key) => key.AccessKeyId === stored.accessKeyId)) {
        throw new KeyMissingError(`new key ${stored.accessKeyId} no longer exists: it was deleted outside keyrot`);
      }
      throw new NewKeyNotValidError(`STS refused ${stored.accessKeyId}: ${error.name}`);
    }
    throw error;
  }
  if (arn !== state.userArn) {
    throw new WrongIdentityError(`${stored.accessKeyId} authenticates as ${arn}, expected ${state.userArn}`);
  }
  logger.info('new key verified with STS', { newKeyId: stored.accessKeyId, arn });
  return { keyId: stored.accessKeyId, arn, verifiedAt: new Date().toISOString() };
}

/**
 * Step 5 (last-used mode): has the consumer signed anything with the new key yet? Past the
 * deadline the wait ends in `ValidationTimeout`, which leads to the rollback.
 */
export async function checkKeyUsed(
  { iam }: Pick<Clients, 'iam'>,
  state: StateWithNewKey & { distributed: { distributedAt: string } },
  now: Date = new Date(),
): Promise<{ used: boolean; lastUsedAt: string | null; deadline: string }> {
  const deadline = new Date(Date.parse(state.distributed.distributedAt) + state.config.validationTimeoutSeconds * 1000);
  const result = await iam.send(new GetAccessKeyLastUsedCommand({ AccessKeyId: state.created.newKeyId }));
  const lastUsed = result.AccessKeyLastUsed?.LastUsedDate ?? null;
  if (!lastUsed && now > deadline) {
    throw new ValidationTimeoutError(
      `no request was signed with ${state.created.newKeyId} before ${deadline.toISOString()}`,
    );
  }
  return { used: lastUsed !== null, lastUsedAt: lastUsed?.toISOString() ?? null, deadline: deadline.toISOString() };
}

/**
 * Step 8, last part: prove the deleted key no longer authenticates. The old key's secret is
 * AWSPREVIOUS; when the secret never held it, refusal cannot be proven and the result says so.
 */
export async function confirmOldKeyRefused(
  { secrets, stsFor }: Pick<Clients, 'secrets' | 'stsFor'>,
  state: StateWithNewKey,
): Promise<{ keyId: string; refusedWith: string | null; note?: string }> {
  const oldKeyId = state.detection.oldKeyId;
  // Read by label: no version carries AWSPREVIOUS when the secret was created by this rotation.
  const stored = await readKey(
    secrets,
    state.secretId,
    { VersionStage: 'AWSPREVIOUS' },
    state.detection.secretFormat,
  ).catch((error: unknown) => {
    if (error instanceof ResourceNotFoundException) return undefined;
    throw error;
  });
  if (stored?.accessKeyId !== oldKeyId) {
    return { keyId: oldKeyId, refusedWith: null, note: 'the secret never held the old key; refusal not provable' };
  }
  let arn: string | undefined;
  try {
    arn = (await stsFor(stored).send(new GetCallerIdentityCommand({}))).Arn;
  } catch (error) {
    if (error instanceof Error && REFUSALS.has(error.name)) {
      logger.info('old key is refused', { oldKeyId, error: error.name });
      return { keyId: oldKeyId, refusedWith: error.name };
    }
    throw error;
  }
  // A deleted key accepted as someone else means the endpoint checks no signatures at all.
  const who = arn && arn !== state.userArn ? ` as ${arn}: the endpoint does not check signatures` : '';
  throw new OldKeyStillAcceptedError(`deleted key ${oldKeyId} still authenticates${who}`);
}
