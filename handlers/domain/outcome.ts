import { causeMessage } from '../shared/errors';
import { OUTCOMES } from '../shared/schemas';

/** The subset of a history event this module reads (SDK and local events both fit). */
export interface EventLike {
  type?: string;
  stateExitedEventDetails?: { name?: string; output?: string };
  executionSucceededEventDetails?: { output?: string };
  executionFailedEventDetails?: { error?: string; cause?: string };
  executionAbortedEventDetails?: { error?: string; cause?: string };
}

export interface RotationOutcome {
  /** ROTATED, SKIPPED, REJECTED, ROLLED_BACK, ROLLBACK_FAILED; FAILED for anything else. */
  outcome: (typeof OUTCOMES)[number] | 'FAILED' | 'RUNNING' | 'ABORTED' | 'TIMED_OUT';
  reason: string | null;
  decision: string | null;
  oldKeyId: string | null;
  newKeyId: string | null;
}

function parse(text: string | undefined): Record<string, unknown> {
  try {
    return (JSON.parse(text ?? 'null') as Record<string, unknown>) ?? {};
  } catch {
    return {};
  }
}

/** Read what a rotation did from its history alone, as an auditor would. */
export function summarize(events: EventLike[]): RotationOutcome {
  const exited = (state: string) =>
    parse(events.findLast((e) => e.stateExitedEventDetails?.name === state)?.stateExitedEventDetails?.output);
  const detection = (exited('Detect Keys').detection ?? {}) as {
    decision?: string;
    reason?: string;
    oldKeyId?: string;
  };
  const created = (exited('Create Access Key').created ?? {}) as { newKeyId?: string };
  const last = events.at(-1);
  const base = {
    decision: detection.decision ?? null,
    oldKeyId: detection.oldKeyId ?? null,
    newKeyId: created.newKeyId ?? null,
  };

  if (last?.type === 'ExecutionSucceeded') {
    const output = parse(last.executionSucceededEventDetails?.output) as { outcome?: string; reason?: string };
    const outcome = output.outcome === 'ROTATED' ? 'ROTATED' : 'SKIPPED';
    return { ...base, outcome, reason: output.reason ?? null };
  }
  if (last?.type === 'ExecutionFailed') {
    const { error, cause } = last.executionFailedEventDetails ?? {};
    const named = OUTCOMES.find((outcome) => outcome === error);
    const message = causeMessage(cause) ?? null;
    return { ...base, outcome: named ?? 'FAILED', reason: named ? message : `${error}: ${message ?? ''}` };
  }
  if (last?.type === 'ExecutionAborted') {
    const { error, cause } = last.executionAbortedEventDetails ?? {};
    return { ...base, outcome: 'ABORTED', reason: [error, cause].filter(Boolean).join(': ') || 'aborted' };
  }
  if (last?.type === 'ExecutionTimedOut') return { ...base, outcome: 'TIMED_OUT', reason: 'execution timed out' };
  return { ...base, outcome: 'RUNNING', reason: null };
}
