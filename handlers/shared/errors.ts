/**
 * Errors carry a literal `name` so the state machine can match them in `ErrorEquals`
 * and esbuild's minifier cannot rename them. Messages name key ids, never secrets.
 */

/** The execution input or a handler payload does not match its schema. */
export class InvalidInputError extends Error {
  override readonly name = 'InvalidInput';
}

/** The IAM user named in the input does not exist. */
export class UserNotFoundError extends Error {
  override readonly name = 'UserNotFound';
}

/** The secret does not hold the key the workflow expects; refuse rather than guess. */
export class SecretMismatchError extends Error {
  override readonly name = 'SecretMismatch';
}

/** STS did not (yet) accept the new key; retried for IAM's eventual consistency. */
export class NewKeyNotValidError extends Error {
  override readonly name = 'NewKeyNotValid';
}

/** The new key authenticated, but as somebody else. Never retried. */
export class WrongIdentityError extends Error {
  override readonly name = 'WrongIdentity';
}

/** The old key still authenticates after deletion; retried for eventual consistency. */
export class OldKeyStillAcceptedError extends Error {
  override readonly name = 'OldKeyStillAccepted';
}

/** The consumer did not start using the new key before the validation deadline. */
export class ValidationTimeoutError extends Error {
  override readonly name = 'ValidationTimeout';
}

/** A key the workflow must act on disappeared (someone else deleted it). */
export class KeyMissingError extends Error {
  override readonly name = 'KeyMissing';
}

/** The execution names an account keyrot is not configured to manage; nothing is assumed. */
export class AccountNotManagedError extends Error {
  override readonly name = 'AccountNotManaged';
}

/** The evidence archive already holds different bytes for a record, or the chain could not be appended. */
export class ArchiveConflictError extends Error {
  override readonly name = 'ArchiveConflict';
}

/**
 * An AWS endpoint could not be reached, or answered 5xx without a named error, after the
 * SDK's own retries. Named like the services' own transient errors so the workflow retries it.
 */
export class ServiceUnavailableError extends Error {
  override readonly name = 'ServiceUnavailable';
}

/** A decision reached an approval whose gate had already timed out: recorded as too late, nothing resumed. */
export class ApprovalExpiredError extends Error {
  override readonly name = 'ApprovalExpired';
}

/** The approval record handed back by a gate is not a valid decision; fail closed. */
export class InvalidApprovalError extends Error {
  override readonly name = 'InvalidApproval';
}

/**
 * The message inside a Step Functions error Cause. Lambda errors arrive as JSON
 * (`{"errorType","errorMessage","trace"}`): keep the message, never the stack trace.
 */
export function causeMessage(cause: string | undefined): string | undefined {
  if (!cause) return undefined;
  try {
    const parsed = JSON.parse(cause) as { errorMessage?: unknown };
    if (typeof parsed.errorMessage === 'string') return parsed.errorMessage;
  } catch {
    // Not JSON: Step Functions' own errors (States.Timeout) carry plain text.
  }
  return cause.slice(0, 500);
}

/**
 * A signature's KMS signature does not verify with keyrot's public key (or names another key):
 * nobody signed this manifest with the approval function's key, so nothing destructive follows.
 */
export class ForgedSignatureError extends Error {
  override readonly name = 'ForgedSignature';
}

/**
 * A setting or endpoint the rotation needs is missing or wrong (a table, topic or link key that
 * does not exist, a region or endpoint that does not answer as AWS does). Found by Detect,
 * before anything is created.
 */
export class MisconfiguredError extends Error {
  override readonly name = 'Misconfigured';
}

/**
 * The old key signed a request after the new key was distributed: a consumer has not moved.
 * Retried with a wait (bounded), then rolled back as OLD_KEY_STILL_IN_USE.
 */
export class OldKeyStillInUseError extends Error {
  override readonly name = 'OldKeyStillInUse';
}
