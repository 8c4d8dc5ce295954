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
  notified: boolean;
  notifyError?: string;
}

/**
 * Step 4: promote this execution's version to AWSCURRENT (the old one becomes AWSPREVIOUS)
 * and tell the key's owner to pick it up. Consumers read the secret, never the message.
 */
export async function distributeKey(
  { secrets, sns }: Pick<Clients, 'secrets' | 'sns'>,
  config: Pick<Settings, 'topicArn'>,
  state: StateWithNewKey,
): Promise<Distributed> {
  const target = state.created.secretVersionId;
  const { stages } = await versionStages(secrets, state.secretId);
  if (!stages[target]) throw new SecretMismatchError(`secret ${state.secretId} has no version ${target}`);
  const current = versionWith(stages, 'AWSCURRENT');

  if (current !== target) {
    await moveStage(secrets, state.secretId, 'AWSCURRENT', { from: current, to: target });
  }
  if (stages[target]?.includes('AWSPENDING')) {
    await moveStage(secrets, state.secretId, 'AWSPENDING', { from: target });
  }
  logger.info('new key is AWSCURRENT', { newKeyId: state.created.newKeyId, previousVersionId: current });

  const sent = await notify({ sns }, config.topicArn, {
    event: 'KEY_DISTRIBUTED',
    userName: state.userName,
    subject: `keyrot: new access key for ${state.userName}`,
    message: [
      `A new access key ${state.created.newKeyId} for IAM user ${state.userName} is now AWSCURRENT`,
      `in the secret ${state.secretId}. Read it from Secrets Manager and switch to it;`,
      `the old key ${state.detection.oldKeyId} will be deactivated after validation and approval.`,
      `Execution: ${state.executionId}`,
    ].join('\n'),
  });
  return {
    currentVersionId: target,
    previousVersionId: current && current !== target ? current : null,
    distributedAt: new Date().toISOString(),
    notified: sent.notified,
    ...(sent.error ? { notifyError: sent.error } : {}),
  };
}
