import type { Clients, Settings } from '../shared/clients';
import type { Signature, StateWithNewKey } from '../shared/schemas';
import { notify } from './notify';

export interface RotationSummary {
  outcome: 'ROTATED';
  executionId: string;
  userName: string;
  oldKeyId: string;
  newKeyId: string;
  secretId: string;
  approvals: Signature[];
  finishedAt: string;
  /** Why the result could not be sent: recorded, never a failure (notify). */
  notifyError?: string;
}

type FinishState = StateWithNewKey & { rotationApproval?: Signature; deletionApproval?: Signature };

/** Step 9: tell the owner the rotation is complete and return the execution's summary. */
export async function finishRotation(
  { sns }: Pick<Clients, 'sns'>,
  config: Pick<Settings, 'topicArn'>,
  state: FinishState,
): Promise<RotationSummary> {
  const summary: RotationSummary = {
    outcome: 'ROTATED',
    executionId: state.executionId,
    userName: state.userName,
    oldKeyId: state.detection.oldKeyId,
    newKeyId: state.created.newKeyId,
    secretId: state.secretId,
    approvals: [state.rotationApproval, state.deletionApproval].filter((s): s is Signature => !!s),
    finishedAt: new Date().toISOString(),
  };
  const sent = await notify({ sns }, config.topicArn, {
    event: 'ROTATED',
    userName: state.userName,
    subject: `keyrot: ${state.userName} rotated`,
    message: `Access key ${summary.oldKeyId} of ${state.userName} was replaced by ${summary.newKeyId} (AWSCURRENT in the secret ${state.secretId}) and deleted.\nExecution: ${state.executionId}`,
  });
  return sent.error && config.topicArn ? { ...summary, notifyError: sent.error } : summary;
}
