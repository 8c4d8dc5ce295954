import { causeMessage } from '../handlers/shared/errors';
import { OUTCOMES } from '../workflows/rotation';

/** The subset of a history event this module reads (SDK and local events both fit). */
export interface EventLike {
  type?: string;
  stateExitedEventDetails?: { name?: string; output?: string };
  executionSucceededEventDetails?: { output?: string };
  executionFailedEventDetails?: { error?: string; cause?: string };
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
  if (last?.type === 'ExecutionAborted') return { ...base, outcome: 'ABORTED', reason: 'aborted' };
  if (last?.type === 'ExecutionTimedOut') return { ...base, outcome: 'TIMED_OUT', reason: 'execution timed out' };
  return { ...base, outcome: 'RUNNING', reason: null };
}

/** Exit codes of `keyrot rotate`, one per outcome so scripts can tell them apart. */
export const EXIT_CODES = {
  ROTATED: 0,
  SKIPPED: 0,
  BLOCKED: 3,
  INVALID: 2,
  REJECTED: 4,
  ROLLED_BACK: 5,
  ROLLBACK_FAILED: 6,
  FAILED: 7,
  ERROR: 1,
} as const;

/** The exit code for an outcome: 0 only for ROTATED and SKIPPED (not when BLOCKED). */
export function exitCodeFor(result: RotationOutcome, error?: string): number {
  if (result.outcome === 'SKIPPED') return result.decision === 'BLOCKED' ? EXIT_CODES.BLOCKED : EXIT_CODES.SKIPPED;
  if (result.outcome === 'FAILED' && (error === 'InvalidInput' || error === 'UserNotFound')) return EXIT_CODES.INVALID;
  if (result.outcome in EXIT_CODES) return EXIT_CODES[result.outcome as keyof typeof EXIT_CODES];
  return EXIT_CODES.FAILED;
}
