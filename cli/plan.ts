import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { detectKeys, type DetectSettings } from '../handlers/domain/detect';
import { GetCallerIdentityCommand } from '@aws-sdk/client-sts';
import { clients, clientsFor, settings } from '../handlers/shared/clients';
import type { ExecutionInput, RotationState } from '../handlers/shared/schemas';
import { EXIT_CODES, PRECONDITION_DECISIONS } from './outcome';
import type { Output } from './output';

const ROOT = path.resolve(import.meta.dirname, '..');

/** The managed scope as flags give it; unset parts come from the environment, then cdk.json. */
export interface ScopeOptions {
  userPath?: string;
  userTag?: string;
}

/**
 * The managed path and tag a local run honours, the same the deployed roles are scoped to:
 * `--user-path`/`--user-tag`, else KEYROT_USER_PATH/KEYROT_USER_TAG (what the stack gives its
 * functions), else cdk.json's `keyrot:userPath`/`keyrot:userTag`. Exported to the environment,
 * so the in-process handlers read the same.
 */
export function applyManagedScope(options: ScopeOptions): { userPath: string; userTag?: string } {
  const context = cdkContext();
  const userPath = options.userPath ?? process.env.KEYROT_USER_PATH ?? context['keyrot:userPath'] ?? '/';
  const userTag = options.userTag ?? process.env.KEYROT_USER_TAG ?? context['keyrot:userTag'];
  process.env.KEYROT_USER_PATH = userPath;
  if (userTag) process.env.KEYROT_USER_TAG = userTag;
  return { userPath, ...(userTag ? { userTag } : {}) };
}

function cdkContext(): Record<string, string | undefined> {
  try {
    const cdk = JSON.parse(readFileSync(path.join(ROOT, 'cdk.json'), 'utf8')) as { context?: Record<string, unknown> };
    return Object.fromEntries(
      Object.entries(cdk.context ?? {}).filter((entry): entry is [string, string] => typeof entry[1] === 'string'),
    );
  } catch {
    return {};
  }
}

/** The settings Detect runs with here: the handlers' own, with the managed scope. */
export function detectSettings(): DetectSettings {
  return {
    ...settings(),
    ...(process.env.KEYROT_USER_PATH ? { userPath: process.env.KEYROT_USER_PATH } : {}),
    ...(process.env.KEYROT_USER_TAG ? { userTag: process.env.KEYROT_USER_TAG } : {}),
  };
}

/**
 * Detect's own checks, run by the CLI before it starts anything (read-only calls with the
 * operator's credentials): the same decision, preconditions and settings checks as the
 * workflow's first step.
 */
export function precheck(input: ExecutionInput, now: Date = new Date()): Promise<RotationState> {
  return detectKeys(
    clientsFor,
    detectSettings(),
    { input, executionId: 'precheck (keyrot CLI)', startedAt: now.toISOString() },
    // The operator is who asks; the workflow verifies the signed proof the start carries.
    operatorArn,
  );
}

/** The ARN of the credentials this CLI runs with (what the requester's proof will name). */
async function operatorArn(): Promise<string> {
  const identity = await clients.sts.send(new GetCallerIdentityCommand({}));
  return identity.Arn ?? 'unknown';
}

/** Whether Detect's decision is a precondition refusal (SECRET_*, NOT_MANAGED). */
export function refused(state: RotationState): boolean {
  return PRECONDITION_DECISIONS.has(state.detection.decision);
}

/** What `--dry-run` prints: the preconditions' verdicts and every step the rotation would take. */
export interface Plan {
  user: string;
  decision: string;
  reason: string;
  wouldRotate: boolean;
  checks: { check: string; ok: boolean; detail: string }[];
  steps: string[];
  gates: string[];
  changed: false;
}

/** The plan of a rotation from Detect's result; pure. */
export function planOf(state: RotationState): Plan {
  const { detection, config } = state;
  const wouldRotate = detection.decision === 'ROTATE';
  const gates = [
    ...(config.approveRotation ? ['Approve Rotation (before a key is created)'] : []),
    ...(config.approveDeletion ? ['Approve Deletion (before the old key is deactivated)'] : []),
  ];
  const old = detection.oldKeyId ?? '(none)';
  // A string: the modes grow (callback), and the plan names any of them.
  const mode: string = config.validationMode;
  const validation =
    mode === 'none'
      ? 'no validation (the new key is verified with STS only)'
      : mode === 'callback'
        ? `wait up to ${config.validationTimeoutSeconds} s for the consumer's proof of possession (keyrot confirm)`
        : `wait up to ${config.validationTimeoutSeconds} s for the new key's first use (checked every ${config.validationPollSeconds} s)`;
  const steps = wouldRotate
    ? [
        ...(config.approveRotation ? ['wait for the rotation approval'] : []),
        `create a new access key for ${state.userName} and store it in ${state.secretId} as AWSPENDING` +
          ` (${state.onboard ? 'a new secret, ' : ''}format ${detection.secretFormat ?? 'keyrot'})`,
        `distribute: promote it to AWSCURRENT (the current version, ${old}, becomes AWSPREVIOUS)` +
          (mode === 'last-used' ? ' and notify the owner' : ''),
        validation,
        'verify the new key with STS GetCallerIdentity',
        ...(config.approveDeletion ? ['wait for the deletion approval'] : []),
        `deactivate the old key ${old}`,
        `wait the grace period (${config.graceSeconds} s)`,
        `delete the old key ${old} and confirm STS refuses it`,
      ]
    : [];
  return {
    user: state.userName,
    decision: detection.decision,
    reason: detection.reason,
    wouldRotate,
    checks: detection.checks ?? [],
    steps,
    gates,
    changed: false,
  };
}

/** The exit code of a dry run: what the rotation itself would end with before any change. */
export function planExitCode(plan: Plan): number {
  if (PRECONDITION_DECISIONS.has(plan.decision)) return EXIT_CODES.PRECONDITION;
  if (plan.decision === 'BLOCKED') return EXIT_CODES.BLOCKED;
  return EXIT_CODES.ROTATED;
}

/** The plan as lines for a person. */
export function planText(plan: Plan): string[] {
  return [
    `DRY RUN  ${plan.user}: ${plan.decision}: ${plan.reason}`,
    ...plan.checks.map((check) => `  ${check.ok ? 'OK  ' : 'FAIL'}  ${check.check}: ${check.detail}`),
    ...(plan.wouldRotate
      ? [
          '  would:',
          ...plan.steps.map((step, index) => `    ${index + 1}. ${step}`),
          `  gates: ${plan.gates.join('; ') || 'none'}`,
        ]
      : ['  would: nothing (no rotation)']),
    '  nothing was changed',
  ];
}

/** Errors Detect refuses a request with before any AWS change; the execution records them as Invalid Request. */
const INVALID_REQUEST = new Set(['InvalidInput', 'UserNotFound', 'AccountNotManaged']);
/** The operator may not be allowed the reads the Detect step's role makes (deployed). */
const NOT_ALLOWED = new Set(['AccessDenied', 'AccessDeniedException', 'UnauthorizedOperation']);

/**
 * Before `rotate` starts anything (local or deployed): run Detect's checks here and refuse a
 * precondition or misconfiguration with Detect's own one-line reason; with `dryRun`, print the
 * plan and stop. Returns the exit code to end with, or undefined to go on and start.
 */
export async function checkBeforeStart(
  input: ExecutionInput,
  options: ScopeOptions & { local: boolean; dryRun?: boolean; json: boolean },
  out: Pick<Output, 'error' | 'progress'>,
): Promise<number | undefined> {
  applyManagedScope(options);
  let state: RotationState;
  try {
    state = await precheck(input);
  } catch (error) {
    const { name, message } = error as Error;
    if (name === 'Misconfigured') {
      out.error(message);
      return EXIT_CODES.MISCONFIGURED;
    }
    if (options.dryRun) {
      out.error(message);
      return INVALID_REQUEST.has(name) ? EXIT_CODES.INVALID : EXIT_CODES.ERROR;
    }
    // The execution itself records these (Invalid Request), as it always has.
    if (INVALID_REQUEST.has(name)) return undefined;
    if (!options.local && NOT_ALLOWED.has(name)) {
      out.progress(`keyrot: could not check the preconditions here (${name}); the Detect step checks them`);
      return undefined;
    }
    throw error;
  }
  if (options.dryRun) {
    const plan = planOf(state);
    process.stdout.write(options.json ? `${JSON.stringify(plan)}\n` : `${planText(plan).join('\n')}\n`);
    return planExitCode(plan);
  }
  if (refused(state)) {
    out.error(`SKIPPED ${state.detection.decision}: ${state.detection.reason}`);
    return EXIT_CODES.PRECONDITION;
  }
  return undefined;
}
