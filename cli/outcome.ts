import type { RotationOutcome } from '../handlers/domain/outcome';

/** Exit codes of every command: one per rotation outcome, so scripts can tell them apart, then the commands' own. */
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
  /** An audit or verify found a changed, missing or unverifiable record. */
  TAMPERED: 8,
  NOT_FOUND: 9,
  /** A rotation of the user is already running (or an abort found none running). */
  CONFLICT: 10,
  /** `keyrot doctor` found at least one check that FAILs. */
  UNHEALTHY: 11,
  /** SKIPPED by a precondition: the secret is missing, names another key or has an unknown shape; or the user is not managed. */
  PRECONDITION: 13,
  /** A setting or endpoint the rotation needs is missing or wrong (Detect's `Misconfigured`): nothing was created. */
  MISCONFIGURED: 14,
  /** `keyrot approve|reject`: the rotation is no longer waiting for this decision (it ended, or its process is gone). */
  NOT_WAITING: 15,
} as const;

/** Decisions of a precondition Detect checks before anything changes (SKIPPED, exit PRECONDITION). */
export const PRECONDITION_DECISIONS = new Set(['SECRET_MISSING', 'SECRET_MISMATCH', 'SECRET_FORMAT', 'NOT_MANAGED']);

/** Errors of the `Invalid Request` state: nothing was touched. */
const INVALID_REQUEST = new Set(['InvalidInput', 'UserNotFound', 'AccountNotManaged']);

/** The exit code for an outcome: 0 only for ROTATED and SKIPPED (not when BLOCKED). */
export function exitCodeFor(result: RotationOutcome, error?: string): number {
  if (result.outcome === 'SKIPPED' && PRECONDITION_DECISIONS.has(result.decision ?? '')) return EXIT_CODES.PRECONDITION;
  if (result.outcome === 'SKIPPED') return result.decision === 'BLOCKED' ? EXIT_CODES.BLOCKED : EXIT_CODES.SKIPPED;
  if (result.outcome === 'FAILED' && error === 'Misconfigured') return EXIT_CODES.MISCONFIGURED;
  if (result.outcome === 'FAILED' && INVALID_REQUEST.has(error ?? '')) return EXIT_CODES.INVALID;
  if (result.outcome in EXIT_CODES) return EXIT_CODES[result.outcome as keyof typeof EXIT_CODES];
  return EXIT_CODES.FAILED;
}
