import * as z from './zod';

/** IAM's own rule for user names (CreateUser): 1-64 of letters, digits and `+=,.@_-`. */
export const UserName = z
  .string()
  .check(
    z.minLength(1, 'userName must not be empty'),
    z.maxLength(64, 'userName is longer than IAM allows (64)'),
    z.regex(/^[\w+=,.@-]+$/, 'userName may only hold letters, digits and + = , . @ _ -'),
  );

/** A string with at least one character. */
export const NonEmpty = z.string().check(z.minLength(1));
const KeyId = z.string().check(z.regex(/^[A-Z0-9]{16,128}$/, 'not an access key id'));
const Integer = (min: number, max: number) => z.int().check(z.minimum(min), z.maximum(max));
const WEEK = 7 * 86_400;

/** Per-rotation settings; every field has a default so operators only state what differs. */
export const RotationConfig = z.strictObject({
  maxAgeDays: z._default(Integer(1, 3650), 90),
  approveRotation: z._default(z.boolean(), false),
  approveDeletion: z._default(z.boolean(), true),
  // callback: the consumer proves it holds the new key (a signed GetCallerIdentity, `keyrot confirm`).
  validationMode: z._default(z.enum(['none', 'last-used', 'callback']), 'last-used'),
  validationTimeoutSeconds: z._default(Integer(1, WEEK), 86_400),
  validationPollSeconds: z._default(Integer(1, 86_400), 300),
  graceSeconds: z._default(Integer(0, WEEK), 86_400),
});
export type RotationConfig = z.infer<typeof RotationConfig>;

/** A signed request as the signer hands it over: what the SDK would have put on the wire (sts-proof.ts). */
const Text = (max: number) => z.string().check(z.maxLength(max));
export const SignedRequest = z.strictObject({
  method: Text(16),
  url: z.optional(Text(2048)),
  headers: z.record(Text(64), Text(4096)),
  body: Text(4096),
});
export type SignedRequest = z.infer<typeof SignedRequest>;

/** Named terminal outcomes an auditor sees (Succeed output or Fail error). */
export const OUTCOMES = ['ROTATED', 'SKIPPED', 'REJECTED', 'ROLLED_BACK', 'ROLLBACK_FAILED'] as const;

/** What an operator (or the scan) starts an execution with. Unknown fields are refused. */
export const ExecutionInput = z
  .strictObject({
    userName: UserName,
    /** The member account the user lives in; absent for keyrot's own account. */
    account: z.optional(z.string().check(z.regex(/^\d{12}$/, 'account must be a 12-digit AWS account id'))),
    /**
     * Who asks: a GetCallerIdentity request signed by the starter's credentials and bound to this
     * rotation (requester.ts). Detect refuses a start without one; `requestedBy` is what STS says.
     */
    requester: z.optional(SignedRequest),
    asOf: z.optional(z.iso.datetime({ offset: true })),
    force: z._default(z.boolean(), false),
    /** Onboarding: the user's key is in no secret yet; the new key goes into a new one. */
    onboard: z._default(z.boolean(), false),
    config: z._default(RotationConfig, RotationConfig.parse({})),
  })
  .check(
    // Onboarding keeps the old key until the new one is proven in use: `none` would prove nothing.
    z.refine((input) => !input.onboard || input.config.validationMode !== 'none', {
      path: ['config', 'validationMode'],
      message: 'onboarding needs a validation that proves the new key is in use (last-used or callback), not none',
    }),
  );
export type ExecutionInput = z.infer<typeof ExecutionInput>;

export const Decision = z.enum([
  'ROTATE',
  'NOT_DUE',
  'NO_KEY',
  'EXEMPT',
  'BLOCKED',
  // Preconditions Detect checks before anything changes (SKIPPED, with the reason).
  'SECRET_MISSING',
  'SECRET_MISMATCH',
  'SECRET_FORMAT',
  'NOT_MANAGED',
]);
export type Decision = z.infer<typeof Decision>;

export const KeySummary = z.object({
  keyId: KeyId,
  status: z.enum(['Active', 'Inactive', 'Expired']),
  createdAt: z.string(),
  ageDays: z.number(),
  lastUsedAt: z.nullable(z.string()),
});
export type KeySummary = z.infer<typeof KeySummary>;

export const Detection = z.object({
  decision: Decision,
  reason: z.string(),
  oldKeyId: z.nullable(KeyId),
  keys: z.array(KeySummary),
  /** The shape of the user's secret (secret-format.ts); absent when no secret exists yet. */
  secretFormat: z.optional(z.enum(['keyrot', 'env', 'credentials', 'iam'])),
  /**
   * The AWSCURRENT version Detect read, and whether it holds fields beside the key (never their
   * names or values): Create Access Key re-reads it only when it has them or AWSCURRENT moved.
   */
  secretVersionId: z.optional(z.string()),
  secretOtherFields: z.optional(z.boolean()),
  /** Each precondition's verdict, for the history and `--dry-run`. */
  checks: z.optional(z.array(z.object({ check: z.string(), ok: z.boolean(), detail: z.string() }))),
});
export type Detection = z.infer<typeof Detection>;

/** The state every step after detection receives: identity, settings and what was found. */
export const RotationState = z.object({
  executionId: NonEmpty,
  startedAt: z.iso.datetime({ offset: true }),
  userName: UserName,
  account: z.optional(z.string()),
  userArn: NonEmpty,
  /** The ARN STS answered the requester's proof with. */
  requestedBy: z.string(),
  asOf: z.string(),
  force: z.boolean(),
  onboard: z.optional(z.boolean()),
  secretId: NonEmpty,
  config: RotationConfig,
  detection: Detection,
});
export type RotationState = z.infer<typeof RotationState>;

export const Created = z.object({
  newKeyId: KeyId,
  secretVersionId: z.string(),
  createdAt: z.string(),
  /** The version AWSCURRENT was on when the new one was stored (null: none); absent from older executions. */
  replacesVersionId: z.optional(z.nullable(z.string())),
});
export type Created = z.infer<typeof Created>;

/** State after the key exists: every later step needs both key ids. */
export const StateWithOldKey = z.extend(RotationState, {
  detection: z.extend(Detection, { oldKeyId: KeyId }),
});
export const StateWithNewKey = z.extend(StateWithOldKey, { created: Created });
export type StateWithNewKey = z.infer<typeof StateWithNewKey>;

/** The approval gates, by the name of the state that waits for them. */
export const GATE_STATES = { ROTATION: 'Approve Rotation', DELETION: 'Approve Deletion' } as const;

/** Whether a state is one of the approval gates. */
export function isGateState(state: string): boolean {
  return state === GATE_STATES.ROTATION || state === GATE_STATES.DELETION;
}

/**
 * An electronic signature as an approval gate returns it (21 CFR 11.50): the printed name
 * (`signer`, from keyrot's approver directory), the user name that authenticated (`signerId`)
 * and the pool's stable id for the account (`signerSub`). Every field but `digest` (the SHA-256
 * of the manifest) and `kmsSignature` is the manifest the KMS key signed (21 CFR 11.70).
 */
export const Signature = z.strictObject({
  approvalId: z.string().check(z.regex(/^[0-9a-f]{32}$/)),
  executionId: z.string(),
  state: z.enum([GATE_STATES.ROTATION, GATE_STATES.DELETION]),
  user: UserName,
  keyIds: z.array(KeyId),
  signer: NonEmpty,
  signerId: NonEmpty,
  signerSub: NonEmpty,
  meaning: z.enum(['APPROVED', 'REJECTED']),
  reason: NonEmpty,
  signedAt: z.iso.datetime(),
  /** The KMS key (ARN) that signed the manifest, and how. */
  signingKeyId: NonEmpty,
  signingAlgorithm: NonEmpty,
  digest: z.string().check(z.regex(/^[0-9a-f]{64}$/)),
  /** The DER-encoded ECDSA signature over the manifest's canonical JSON, in base64. */
  kmsSignature: NonEmpty,
});
export type Signature = z.infer<typeof Signature>;

/** What a failed step leaves at `$.failure` through the state machine's Catch. */
export const Failure = z.object({ Error: z.string(), Cause: z.optional(z.string()) });

/** Render zod issues as one sentence an operator can act on: bounded, whatever the input held. */
export function describeIssues(error: { issues: z.core.$ZodIssue[] }): string {
  const text = error.issues
    .map((issue) => {
      const where = issue.path.length > 0 ? issue.path.map((part) => clip(String(part))).join('.') : 'input';
      const what =
        issue.code === 'unrecognized_keys'
          ? `unknown field${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((key) => JSON.stringify(clip(key))).join(', ')}`
          : issue.message;
      return `${where}: ${what}`;
    })
    .join('; ');
  return text.length > MAX_DESCRIPTION
    ? `${text.slice(0, MAX_DESCRIPTION)}… (${error.issues.length} problem${error.issues.length > 1 ? 's' : ''})`
    : text;
}

const MAX_DESCRIPTION = 600;
const clip = (text: string) => (text.length > 40 ? `${text.slice(0, 40)}…` : text);
