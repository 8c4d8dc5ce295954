import { DeleteAccessKeyCommand, UpdateAccessKeyCommand } from '@aws-sdk/client-iam';
import type { Clients } from '../shared/clients';
import { settings } from '../shared/settings';
import { KeyMissingError, OldKeyStillInUseError, SecretMismatchError } from '../shared/errors';
import { logger } from '../shared/logger';
import type { StateWithNewKey } from '../shared/schemas';
import { checkApproval } from './approvals';
import { isNoSuchEntity, listKeys } from './keys';
import { oldKeyUse, stillInUse } from './old-key-use';
import { readKey } from './secret';
import { verificationKey } from './signing';

type DestructiveState = StateWithNewKey & { deletionApproval?: unknown };

/**
 * Refuse any destructive step unless (a) the gate is off or an APPROVED signature for this
 * execution and these keys, KMS-signed by the approval function, is recorded, and (b)
 * AWSCURRENT holds the new key, so the user keeps a working key whatever happens next.
 */
async function guard({ secrets, kms }: Pick<Clients, 'secrets' | 'kms'>, state: DestructiveState): Promise<void> {
  if (state.config.approveDeletion) {
    checkApproval(
      state.deletionApproval,
      {
        executionId: state.executionId,
        gate: 'DELETION',
        keyIds: [state.detection.oldKeyId, state.created.newKeyId],
      },
      await verificationKey(kms, settings()),
    );
  }
  const current = await readKey(secrets, state.secretId, { VersionStage: 'AWSCURRENT' }, state.detection.secretFormat);
  if (current.accessKeyId !== state.created.newKeyId) {
    throw new SecretMismatchError(`AWSCURRENT holds ${current.accessKeyId}, not the new key; refusing`);
  }
}

/**
 * Step 8a: deactivate the old key (idempotent), unless a consumer still uses it: a use after
 * the distribution, recent enough (`stillInUse`), refuses with `OldKeyStillInUse`.
 */
export async function deactivateOldKey(
  { iam, secrets, kms }: Pick<Clients, 'iam' | 'secrets' | 'kms'>,
  state: DestructiveState & { distributed: { distributedAt: string } },
  now: Date = new Date(),
): Promise<{ keyId: string; status: 'Inactive'; at: string; lastUsedAt: string | null }> {
  await guard({ secrets, kms }, state);
  const keyId = state.detection.oldKeyId;
  const keys = await listKeys(iam, state.userName);
  const oldKey = keys.find((key) => key.AccessKeyId === keyId);
  if (!oldKey) throw new KeyMissingError(`old key ${keyId} no longer exists`);
  let lastUsedAt: string | null = null;
  // Already Inactive (a retry of this step, or a human): AWS refuses it, so nobody can be relying on it.
  if (oldKey.Status === 'Active') {
    const use = await oldKeyUse({ iam }, keyId, state.distributed.distributedAt);
    const refusal = stillInUse(use, now);
    if (refusal) {
      logger.warn('old key still in use; not deactivating', { oldKeyId: keyId, lastUsedAt: use.lastUsedAt });
      throw new OldKeyStillInUseError(refusal);
    }
    lastUsedAt = use.lastUsedAt;
  }
  await iam.send(new UpdateAccessKeyCommand({ UserName: state.userName, AccessKeyId: keyId, Status: 'Inactive' }));
  logger.info('old key deactivated', { oldKeyId: keyId, lastUsedAt });
  return { keyId, status: 'Inactive', at: new Date().toISOString(), lastUsedAt };
}

/** Step 8c: delete the old key after the grace period; already gone counts as done. */
export async function deleteOldKey(
  { iam, secrets, kms }: Pick<Clients, 'iam' | 'secrets' | 'kms'>,
  state: DestructiveState,
): Promise<{ keyId: string; deleted: true; at: string }> {
  await guard({ secrets, kms }, state);
  const keyId = state.detection.oldKeyId;
  const key = (await listKeys(iam, state.userName)).find((k) => k.AccessKeyId === keyId);
  if (key?.Status === 'Active') {
    // Someone re-activated it during the grace period: they may depend on it.
    throw new KeyMissingError(`old key ${keyId} was re-activated during the grace period; not deleting`);
  }
  if (key) {
    try {
      await iam.send(new DeleteAccessKeyCommand({ UserName: state.userName, AccessKeyId: keyId }));
    } catch (error) {
      if (!isNoSuchEntity(error)) throw error;
    }
  }
  logger.info('old key deleted', { oldKeyId: keyId });
  return { keyId, deleted: true, at: new Date().toISOString() };
}
