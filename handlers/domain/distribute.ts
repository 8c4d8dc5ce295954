import { InvalidParameterException, InvalidRequestException } from '@aws-sdk/client-secrets-manager';
import type { Clients, Settings } from '../shared/clients';
import { SecretMismatchError } from '../shared/errors';
import { logger } from '../shared/logger';
import type { StateWithNewKey } from '../shared/schemas';
import { notify } from './notify';
import { moveStage, versionStages, versionWith } from './secret';

export interface Distributed {
  currentVersionId: string;
  previousVersionId: string | null;
  distributedAt: string;
  /** Whether the owner was told (last-used mode only). */
  notified: boolean;
  notifyError?: string;
}

/**
 * Step 4: promote this execution's version to AWSCURRENT (the old one becomes AWSPREVIOUS).
 * The label is moved from the version Create Access Key saw it on, without reading the secret
 * again; when it is not there (a retry after the move, a change outside keyrot), the stages
 * are read and the move is made from what they say. AWSPENDING stays with the new version, a
 * finished rotation's state in Secrets Manager's own terms; the next rotation's PutSecretValue
 * takes it. The owner is told in last-used mode, where the rotation waits for their consumer
 * to move and no other message says so; in callback mode Wait For Consumer tells them, and the
 * deletion gate's request and the final result name the new key too.
 */
export async function distributeKey(
  { secrets, sns }: Pick<Clients, 'secrets' | 'sns'>,
  config: Pick<Settings, 'topicArn'>,
  state: StateWithNewKey,
): Promise<Distributed> {
  const target = state.created.secretVersionId;
  const previous = await promote(secrets, state);
  logger.info('new key is AWSCURRENT', { newKeyId: state.created.newKeyId, previousVersionId: previous });

  const sent =
    state.config.validationMode === 'last-used'
      ? await notify({ sns }, config.topicArn, {
          event: 'KEY_DISTRIBUTED',
          userName: state.userName,
          subject: `keyrot: new access key for ${state.userName}`,
          message: [
            `A new access key ${state.created.newKeyId} for IAM user ${state.userName} is now AWSCURRENT`,
            `in the secret ${state.secretId}. Read it from Secrets Manager and switch to it;`,
            `the old key ${state.detection.oldKeyId} will be deactivated after validation and approval.`,
            `Execution: ${state.executionId}`,
          ].join('\n'),
        })
      : undefined;
  return {
    currentVersionId: target,
    previousVersionId: previous,
    distributedAt: new Date().toISOString(),
    notified: sent?.notified ?? false,
    ...(sent?.error ? { notifyError: sent.error } : {}),
  };
}

/** Move AWSCURRENT to the new version; returns the version it came from (null: none had it). */
async function promote(secrets: Clients['secrets'], state: StateWithNewKey): Promise<string | null> {
  const target = state.created.secretVersionId;
  const from = state.created.replacesVersionId;
  if (from !== undefined && from !== target) {
    try {
      await moveStage(secrets, state.secretId, 'AWSCURRENT', { from: from ?? undefined, to: target });
      return from;
    } catch (error) {
      // Secrets Manager refuses a move whose RemoveFromVersionId does not carry the label.
      if (!(error instanceof InvalidParameterException || error instanceof InvalidRequestException)) throw error;
    }
  }
  const { stages } = await versionStages(secrets, state.secretId);
  if (!stages[target]) throw new SecretMismatchError(`secret ${state.secretId} has no version ${target}`);
  const current = versionWith(stages, 'AWSCURRENT');
  if (current === target) return versionWith(stages, 'AWSPREVIOUS') ?? null;
  await moveStage(secrets, state.secretId, 'AWSCURRENT', { from: current, to: target });
  return current ?? null;
}
