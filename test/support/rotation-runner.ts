import { decideAllPending } from '../../handlers/domain/approvals';
import { clients, settings } from '../../handlers/shared/clients';
import { synthesizeDefinition, type SynthesizedDefinition } from '../../local/definition';
import { LocalTaskTokens, runLocal, type LocalExecution, type LocalRunOptions } from '../../local/engine';

const definitions = new Map<string, SynthesizedDefinition>();

export interface RunOptions {
  /** How every approval gate is answered; `none` lets it wait until it times out. */
  decision?: 'APPROVED' | 'REJECTED' | 'none';
  /** CDK context for the synthesized definition, e.g. a short approval timeout. */
  context?: Record<string, string>;
  around?: LocalRunOptions['around'];
  /** The task tokens the run waits on (share them with an approval server). */
  tokens?: LocalTaskTokens;
  /** Run this definition rather than the synthesized one (e.g. with retry intervals scaled down). */
  definition?: SynthesizedDefinition;
  /** `real` lets retry pauses (and Wait states) take their time; default `skip`. */
  waits?: LocalRunOptions['waits'];
  /** Called when a gate waits, after the approval exists, before it is answered as told. */
  onWaiting?: LocalRunOptions['onWaiting'];
}

/** Run the synthesized workflow in the local engine with instant waits, answering gates as told. */
export async function runRotation(input: unknown, options: RunOptions = {}): Promise<LocalExecution> {
  const key = JSON.stringify(options.context ?? {});
  const definition = options.definition ?? definitions.get(key) ?? (await synthesizeDefinition(options.context));
  if (!options.definition) definitions.set(key, definition);
  const tokens = options.tokens ?? new LocalTaskTokens();
  const decisions: Promise<unknown>[] = [];
  const execution = await runLocal(definition, {
    input,
    tokens,
    waits: options.waits ?? 'skip',
    around: options.around,
    onWaiting: (state, executionArn) => {
      options.onWaiting?.(state, executionArn);
      if (options.decision === 'none') return;
      decisions.push(
        decideAllPending({ ...clients, callbacks: tokens }, settings(), executionArn, {
          signer: { username: 'quality-approver', sub: 'auto-approve:quality-approver', name: 'Quinn Avery (QA Lead)' },
          meaning: options.decision === 'REJECTED' ? 'REJECTED' : 'APPROVED',
          reason: options.decision === 'REJECTED' ? 'consumer not ready' : 'change CR-1042 approved',
        }),
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
