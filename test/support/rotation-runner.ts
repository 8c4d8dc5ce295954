import { randomUUID } from 'node:crypto';
import { decideAllPending } from '../../handlers/domain/approvals';
import { withRequester } from '../../handlers/domain/requester';
import { clients, settings } from '../../handlers/shared/clients';
import { synthesizeDefinition, type SynthesizedDefinition } from '../../local/definition';
import {
  localExecutionArn,
  LocalTaskTokens,
  runLocal,
  type LocalExecution,
  type LocalRunOptions,
} from '../../local/engine';

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
  /** The execution's name (default a fresh one). */
  name?: string;
  /** Whose credentials sign the requester's proof (default the ones the test runs with: the operator). */
  requester?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
}

/**
 * The input as `keyrot rotate` starts it: with the requester's proof, signed by the credentials
 * the test runs with (the local operator) for this execution, unless the input brings its own
 * `requester` (a test of the proof itself) or is not a rotation request at all.
 */
async function proven(input: unknown, executionArn: string, credentials?: RunOptions['requester']): Promise<unknown> {
  if (typeof input !== 'object' || input === null || Array.isArray(input) || 'requester' in input) return input;
  const request = input as { userName?: unknown; account?: unknown };
  if (typeof request.userName !== 'string' || !['string', 'undefined'].includes(typeof request.account)) return input;
  return withRequester(request as { userName: string; account?: string }, executionArn, credentials);
}

/** The ARN `runRotation` gives the execution `name` (what a requester's proof for it is bound to). */
export async function localArnOf(name: string, context?: Record<string, string>): Promise<string> {
  return localExecutionArn((await definitionFor(context)).stateMachineName, name);
}

/** The synthesized definition for a CDK context, once per test file. */
async function definitionFor(context?: Record<string, string>): Promise<SynthesizedDefinition> {
  const key = JSON.stringify(context ?? {});
  const definition = definitions.get(key) ?? (await synthesizeDefinition(context));
  definitions.set(key, definition);
  return definition;
}

/** Run the synthesized workflow in the local engine with instant waits, answering gates as told. */
export async function runRotation(input: unknown, options: RunOptions = {}): Promise<LocalExecution> {
  const definition = options.definition ?? (await definitionFor(options.context));
  const tokens = options.tokens ?? new LocalTaskTokens();
  const decisions: Promise<unknown>[] = [];
  const name = options.name ?? `test-${randomUUID()}`;
  const execution = await runLocal(definition, {
    input: await proven(input, localExecutionArn(definition.stateMachineName, name), options.requester),
    name,
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
