import { DeleteAccessKeyCommand, UpdateAccessKeyCommand } from '@aws-sdk/client-iam';
import { DeleteSecretCommand, DescribeSecretCommand } from '@aws-sdk/client-secrets-manager';
import * as z from '../shared/zod';
import type { Clients, Settings } from '../shared/clients';
import { causeMessage } from '../shared/errors';
import { logger } from '../shared/logger';
import { Created, Failure, StateWithOldKey } from '../shared/schemas';
import { isNoSuchEntity, keysCreatedBy, listKeys } from './keys';
import { moveStage, readKey, versionIdFor, versionStages, versionWith } from './secret';
import { notify } from './notify';

export const RollbackState = z.extend(StateWithOldKey, {
  created: z.optional(Created),
  failure: z.optional(Failure),
});
export type RollbackState = z.infer<typeof RollbackState>;

export interface RollbackResult {
  outcome: 'ROLLED_BACK' | 'ROLLBACK_FAILED';
  cause: string;
  actions: string[];
}

/**
 * Compensation: put things back as they were, working from what exists in IAM and Secrets
 * Manager rather than from what the state says. Every action checks before it acts, so
 * running it twice is harmless. The user is never left without a working key: when the old
 * key is already gone the new one is kept and the outcome is ROLLBACK_FAILED.
 */
export async function rollback(
  { iam, secrets, sns }: Pick<Clients, 'iam' | 'secrets' | 'sns'>,
  config: Pick<Settings, 'topicArn'>,
  state: RollbackState,
): Promise<RollbackResult> {
  const why = describeFailure(state.failure);
  const actions: string[] = [];
  const oldKeyId = state.detection.oldKeyId;
  const result = await compensate();
  logger.info('rollback finished', { outcome: result.outcome, actions });
  await notify({ sns }, config.topicArn, {
    event: result.outcome,
    userName: state.userName,
    subject: `keyrot: ${result.outcome} for ${state.userName}`,
    message: `${result.cause}\nActions: ${actions.join('; ') || 'none needed'}\nExecution: ${state.executionId}`,
  });
  return result;

  async function compensate(): Promise<RollbackResult> {
    let keys;
    try {
      keys = await listKeys(iam, state.userName);
    } catch (error) {
      if (isNoSuchEntity(error)) return failed(`user ${state.userName} no longer exists`);
      throw error;
    }
    const oldKey = keys.find((key) => key.AccessKeyId === oldKeyId);
    const { exists, stages } = await versionStages(secrets, state.secretId);
    const ourVersion = versionIdFor(state.executionId);

    if (!oldKey) {
      const newKey = keys.find((key) => key.AccessKeyId !== oldKeyId);
      const kept = newKey ? `the new key ${newKey.AccessKeyId} is kept` : 'the user has no key left';
      return failed(`old key ${oldKeyId} no longer exists, so it cannot be restored; ${kept}`);
    }
    if (oldKey.Status !== 'Active') {
      await iam.send(new UpdateAccessKeyCommand({ UserName: state.userName, AccessKeyId: oldKeyId, Status: 'Active' }));
      actions.push(`re-activated ${oldKeyId}`);
    }

    if (exists) await restoreSecret(stages, ourVersion);

    for (const key of keysCreatedBy(keys, { oldKeyId, startedAt: state.startedAt })) {
      try {
        await iam.send(new DeleteAccessKeyCommand({ UserName: state.userName, AccessKeyId: key.AccessKeyId }));
        actions.push(`deleted new key ${key.AccessKeyId}`);
      } catch (error) {
        if (!isNoSuchEntity(error)) throw error;
      }
    }
    return { outcome: 'ROLLED_BACK', cause: why, actions };
  }

  async function restoreSecret(stages: Record<string, string[]>, ourVersion: string): Promise<void> {
    if (await createdByUs()) {
      // The secret did not exist before this execution: there is nothing to go back to.
      await secrets.send(new DeleteSecretCommand({ SecretId: state.secretId, ForceDeleteWithoutRecovery: true }));
      actions.push(`deleted secret ${state.secretId}, which this execution created`);
      return;
    }
    const previous = versionWith(stages, 'AWSPREVIOUS');
    if (versionWith(stages, 'AWSCURRENT') === ourVersion && previous) {
      await moveStage(secrets, state.secretId, 'AWSCURRENT', { from: ourVersion, to: previous });
      const restored = await readKey(secrets, state.secretId, { VersionId: previous }, state.detection.secretFormat);
      actions.push(`secret AWSCURRENT back to ${restored.accessKeyId}`);
    }
    if (stages[ourVersion]?.includes('AWSPENDING')) {
      await moveStage(secrets, state.secretId, 'AWSPENDING', { from: ourVersion });
      actions.push('removed AWSPENDING from the new version');
    }
  }

  async function createdByUs(): Promise<boolean> {
    const secret = await secrets.send(new DescribeSecretCommand({ SecretId: state.secretId }));
    return (secret.Tags ?? []).some((tag) => tag.Key === 'keyrot:created-by' && tag.Value === state.executionId);
  }

  function failed(reason: string): RollbackResult {
    return { outcome: 'ROLLBACK_FAILED', cause: `${why}; rollback: ${reason}`, actions };
  }
}

/** Failures whose cause an auditor reads under a reason code rather than the error's class name. */
const REASON_CODES: Record<string, string> = { OldKeyStillInUse: 'OLD_KEY_STILL_IN_USE' };

function describeFailure(failure: z.infer<typeof Failure> | undefined): string {
  if (!failure) return 'rolled back';
  const cause = causeMessage(failure.Cause);
  const error = REASON_CODES[failure.Error] ?? failure.Error;
  return cause ? `${error}: ${cause}` : error;
}
