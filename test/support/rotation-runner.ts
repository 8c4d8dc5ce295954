import { decide, pendingApprovals } from '../../handlers/domain/approvals';
import { clients, settings } from '../../handlers/shared/clients';
import { synthesizeDefinition, type SynthesizedDefinition } from '../../local/definition';
import { LocalTaskTokens, runLocal, type LocalExecution, type LocalRunOptions } from '../../local/engine';

let definition: SynthesizedDefinition | undefined;

export interface RunOptions {
  /** How every approval gate is answered; without it a gate would wait. */
  decision?: 'APPROVED' | 'REJECTED';
  around?: LocalRunOptions['around'];
}

/** Run the synthesized workflow in the local engine with instant waits, answering gates as told. */
export async function runRotation(input: unknown, options: RunOptions = {}): Promise<LocalExecution> {
  definition ??= synthesizeDefinition();
  const tokens = new LocalTaskTokens();
  const decisions: Promise<unknown>[] = [];
  const execution = await runLocal(definition, {
    input,
    tokens,
    waits: 'skip',
    around: options.around,
    onWaiting: (_state, executionArn) => {
      decisions.push(
        (async () => {
          for (const approval of await pendingApprovals(clients, settings(), executionArn)) {
            await decide({ ...clients, callbacks: tokens }, settings(), {
              approvalId: approval.approvalId,
              signer: 'quality-approver',
              meaning: options.decision ?? 'APPROVED',
              reason: options.decision === 'REJECTED' ? 'consumer not ready' : 'change CR-1042 approved',
            });
          }
        })(),
      );
    },
  });
  await Promise.all(decisions);
  return execution;
}

/** The names of the states an execution entered, in order. */
export function statesEntered(execution: LocalExecution): string[] {
  return execution.events
    .filter((event) => event.type.endsWith('StateEntered'))
    .map((event) => (event.stateEnteredEventDetails as { name: string }).name);
}
