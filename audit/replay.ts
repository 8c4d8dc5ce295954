import { signatureDigest } from '../handlers/domain/approvals';
import type { ExecutionRecord, HistoryEvent } from '../handlers/domain/execution-record';
import { userOf } from '../handlers/domain/execution-record';
import { causeMessage } from '../handlers/shared/errors';
import { GATE_STATES, isGateState, Signature } from '../handlers/shared/schemas';
import { summarize, type EventLike, type RotationOutcome } from '../handlers/domain/outcome';

/** One state the execution entered, as an auditor reads it. */
export interface ReplayStep {
  /** 0 for the first run, n after the n-th redrive. */
  attempt: number;
  state: string;
  type: string;
  enteredAt: string;
  exitedAt: string | null;
  durationMs: number | null;
  result: 'succeeded' | 'failed' | 'running';
  /** How many times the task's handler was invoked (retries included); 0 for other states. */
  tries: number;
  /** Every failed try, as `Error: message`. */
  errors: string[];
  /** What the step did, in key ids and decisions; never a secret. */
  did: string;
}

/** An electronic signature found in the history, checked against the execution it is in. */
export interface ReplaySignature {
  state: string;
  approvalId: string;
  signer: string;
  signerId: string;
  meaning: string;
  reason: string;
  signedAt: string;
  keyIds: string[];
  digest: string;
  /** The digest matches the fields and the signature names this execution, gate and keys. */
  verified: boolean;
  problems: string[];
}

/** The replay of one execution: identical whichever source the history came from. */
export interface Replay {
  executionArn: string;
  name: string;
  stateMachineArn: string;
  user: string | null;
  requestedBy: string | null;
  status: string;
  startDate: string;
  stopDate: string | null;
  redriveCount: number;
  outcome: RotationOutcome['outcome'];
  reason: string | null;
  decision: string | null;
  oldKeyId: string | null;
  newKeyId: string | null;
  eventCount: number;
  /** False when events are missing or the history ends early; `gaps` says what and where. */
  complete: boolean;
  gaps: string[];
  steps: ReplayStep[];
  signatures: ReplaySignature[];
}

const TERMINAL = new Set(['ExecutionSucceeded', 'ExecutionFailed', 'ExecutionAborted', 'ExecutionTimedOut']);
const TASK_RESULT = new Set(['LambdaFunctionSucceeded', 'TaskSucceeded']);
const TASK_START = new Set(['LambdaFunctionScheduled', 'TaskScheduled']);
const TASK_FAILURE: Record<string, string> = {
  LambdaFunctionFailed: 'lambdaFunctionFailedEventDetails',
  LambdaFunctionTimedOut: 'lambdaFunctionTimedOutEventDetails',
  LambdaFunctionStartFailed: 'lambdaFunctionStartFailedEventDetails',
  LambdaFunctionScheduleFailed: 'lambdaFunctionScheduleFailedEventDetails',
  TaskFailed: 'taskFailedEventDetails',
  TaskTimedOut: 'taskTimedOutEventDetails',
  TaskStartFailed: 'taskStartFailedEventDetails',
  TaskSubmitFailed: 'taskSubmitFailedEventDetails',
  TaskScheduleFailed: 'taskScheduleFailedEventDetails',
};
/** State output fields that say who and when rather than what was done. */
const CONTEXT_FIELDS = new Set([
  'executionId',
  'startedAt',
  'userArn',
  'userName',
  'requestedBy',
  'asOf',
  'secretId',
  'createdAt',
  'distributedAt',
  'verifiedAt',
  'finishedAt',
  'at',
]);

function parse(text: unknown): unknown {
  if (typeof text !== 'string') return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

const details = (event: HistoryEvent, key: string) => (event[key] ?? {}) as Record<string, unknown>;
const ms = (from: string, to: string) => Date.parse(to) - Date.parse(from);

function seconds(durationMs: number): string {
  if (durationMs < 1000) return `${durationMs} ms`;
  if (durationMs < 120_000) return `${(durationMs / 1000).toFixed(1)} s`;
  return `${Math.round(durationMs / 60_000)} min`;
}

/** What a task's result says it did: its scalar fields, skipping who/when context. */
function describeResult(result: unknown): string {
  if (!result || typeof result !== 'object') return result === undefined ? '' : String(result);
  const record = result as Record<string, unknown>;
  const detection = record.detection as { decision?: string; reason?: string; oldKeyId?: string | null } | undefined;
  if (detection) {
    return [`${detection.decision}: ${detection.reason}`, detection.oldKeyId && `key ${detection.oldKeyId}`]
      .filter(Boolean)
      .join('; ');
  }
  // A gate's check returns the signature it accepted: say so rather than list its fields.
  if (typeof record.digest === 'string' && typeof record.signer === 'string') {
    return `accepted the ${String(record.meaning)} signature of ${record.signer} (${String(record.signerId)}): digest and binding checked`;
  }
  const scalar = (value: unknown) => value !== null && typeof value !== 'object';
  const list = (value: unknown[]) =>
    value.every(scalar) ? value.join('; ') || 'none' : `${value.length} record${value.length === 1 ? '' : 's'}`;
  return Object.entries(record)
    .filter(([key, value]) => !CONTEXT_FIELDS.has(key) && (scalar(value) || Array.isArray(value)))
    .map(([key, value]) => (Array.isArray(value) ? `${key}: ${list(value)}` : `${key} ${String(value)}`))
    .join(', ');
}

function checkSignature(
  raw: unknown,
  state: string,
  expected: { executionArn: string; keyIds: string[] },
): ReplaySignature {
  const candidate = (raw ?? {}) as Partial<Signature>;
  const parsed = Signature.safeParse(raw);
  const problems: string[] = [];
  if (!parsed.success) problems.push('the signature is malformed');
  else {
    const { digest, ...fields } = parsed.data;
    if (digest !== signatureDigest(fields)) problems.push('its digest does not match its fields');
    if (fields.executionId !== expected.executionArn)
      problems.push(`it was signed for another execution (${fields.executionId})`);
    if (fields.state !== state) problems.push(`it was signed at another gate (${fields.state})`);
    const missing = expected.keyIds.filter((id) => !fields.keyIds.includes(id));
    if (missing.length > 0) problems.push(`it does not name ${missing.join(', ')}`);
  }
  return {
    state,
    approvalId: String(candidate.approvalId ?? ''),
    signer: String(candidate.signer ?? ''),
    signerId: String(candidate.signerId ?? ''),
    meaning: String(candidate.meaning ?? ''),
    reason: String(candidate.reason ?? ''),
    signedAt: String(candidate.signedAt ?? ''),
    keyIds: Array.isArray(candidate.keyIds) ? candidate.keyIds.map(String) : [],
    digest: String(candidate.digest ?? ''),
    verified: problems.length === 0,
    problems,
  };
}

/** Say plainly where a history is incomplete: missing events, a missing start, no end. */
function findGaps(record: ExecutionRecord): string[] {
  const { events } = record;
  const gaps: string[] = [];
  if (events.length === 0) return ['the history has no events'];
  if (events[0]?.type !== 'ExecutionStarted') gaps.push(`the history does not begin with ExecutionStarted`);
  if (events[0] && events[0].id !== 1) gaps.push(`events 1–${events[0].id - 1} are missing from the start`);
  for (let i = 1; i < events.length; i += 1) {
    const before = events[i - 1] as HistoryEvent;
    const event = events[i] as HistoryEvent;
    if (event.id <= before.id) gaps.push(`event ${event.id} is out of order (after event ${before.id})`);
    else if (event.id !== before.id + 1) {
      const first = before.id + 1;
      const last = event.id - 1;
      gaps.push(first === last ? `event ${first} is missing` : `events ${first}–${last} are missing`);
    }
  }
  const last = events.at(-1) as HistoryEvent;
  if (record.status !== 'RUNNING' && !TERMINAL.has(last.type))
    gaps.push(`the execution is ${record.status} but its history ends at event ${last.id} (${last.type})`);
  return gaps;
}

/**
 * Replay an execution from its history alone: one step per state entered (retries folded
 * into the step, redrives numbered), every signature checked, the outcome and its cause.
 */
export function replay(record: ExecutionRecord): Replay {
  const summary = summarize(record.events as EventLike[]);
  const steps: ReplayStep[] = [];
  const signatures: ReplaySignature[] = [];
  const expectedKeys = (state: string) =>
    [summary.oldKeyId, state === GATE_STATES.DELETION ? summary.newKeyId : null].filter(
      (id): id is string => typeof id === 'string',
    );
  let attempt = 0;
  let open: ReplayStep | undefined;
  let lastResult: unknown;
  // A caught failure exits the state too; the step still failed.
  let failedLast = false;

  const close = (at: string, result: ReplayStep['result']) => {
    if (!open) return;
    open.exitedAt = at;
    open.durationMs = ms(open.enteredAt, at);
    open.result = result;
    open = undefined;
  };

  for (const event of record.events) {
    const type = event.type;
    if (type.endsWith('StateEntered')) {
      close(event.timestamp, 'failed');
      const entered = details(event, 'stateEnteredEventDetails');
      open = {
        attempt,
        state: String(entered.name ?? '?'),
        type: type.slice(0, -'StateEntered'.length),
        enteredAt: event.timestamp,
        exitedAt: null,
        durationMs: null,
        result: 'running',
        tries: 0,
        errors: [],
        did: '',
      };
      steps.push(open);
      lastResult = undefined;
      failedLast = false;
    } else if (type.endsWith('StateExited') && open) {
      const step = open;
      close(event.timestamp, failedLast ? 'failed' : 'succeeded');
      if (step.type === 'Task' && !isGateState(step.state)) step.did = describeResult(lastResult);
      if (step.type === 'Succeed') {
        const output = parse(details(event, 'stateExitedEventDetails').output) as { outcome?: string; reason?: string };
        step.did = [output?.outcome, output?.reason].filter(Boolean).join(': ');
      }
      if (step.type === 'Wait') step.did = `waited ${seconds(step.durationMs ?? 0)}`;
    } else if (TASK_START.has(type) && open) {
      open.tries += 1;
    } else if (type === 'TaskSubmitted' && open) {
      open.did = 'approval requested; waiting for a signature';
    } else if (TASK_RESULT.has(type)) {
      const output = type === 'TaskSucceeded' ? details(event, 'taskSucceededEventDetails').output : undefined;
      lastResult = parse(output ?? details(event, 'lambdaFunctionSucceededEventDetails').output);
      failedLast = false;
      if (open && isGateState(open.state)) {
        const signature = checkSignature(lastResult, open.state, { ...record, keyIds: expectedKeys(open.state) });
        signatures.push(signature);
        open.did = `${signature.meaning} by ${signature.signer} (${signature.signerId})`;
      }
    } else if (TASK_FAILURE[type] && open) {
      const failure = details(event, TASK_FAILURE[type]);
      const error = String(failure.error ?? type);
      const cause = typeof failure.cause === 'string' ? failure.cause : undefined;
      open.errors.push(`${error}: ${causeMessage(cause) ?? ''}`.replace(/: $/, ''));
      failedLast = true;
      const rejected = (parse(cause) as { signature?: unknown } | undefined)?.signature;
      if (rejected && isGateState(open.state)) {
        const signature = checkSignature(rejected, open.state, { ...record, keyIds: expectedKeys(open.state) });
        signatures.push(signature);
        open.did = `${signature.meaning} by ${signature.signer} (${signature.signerId})`;
      }
    } else if (type === 'ExecutionRedriven') {
      attempt = Number(details(event, 'executionRedrivenEventDetails').redriveCount ?? attempt + 1);
    } else if (TERMINAL.has(type)) {
      const failed =
        type === 'ExecutionSucceeded'
          ? undefined
          : details(event, `${type[0]?.toLowerCase()}${type.slice(1)}EventDetails`);
      if (open?.type === 'Fail' && failed) {
        open.did = `${String(failed.error ?? '')}: ${causeMessage(failed.cause as string | undefined) ?? ''}`;
      }
      close(event.timestamp, type === 'ExecutionSucceeded' ? 'succeeded' : 'failed');
    }
  }

  for (const [index, step] of steps.entries()) {
    if (step.type === 'Choice') step.did = `chose ${steps[index + 1]?.state ?? '(nothing yet)'}`;
    if (!step.did && step.errors.length > 0) step.did = `failed: ${step.errors.at(-1)}`;
    if (step.errors.length > 0 && step.tries > 1) step.did += ` (${step.tries} tries)`;
  }

  const gaps = findGaps(record);
  const input = (record.input ?? {}) as { requestedBy?: unknown };
  return {
    executionArn: record.executionArn,
    name: record.name,
    stateMachineArn: record.stateMachineArn,
    user: userOf(record) ?? null,
    requestedBy: typeof input.requestedBy === 'string' ? input.requestedBy : null,
    status: record.status,
    startDate: record.startDate,
    stopDate: record.stopDate ?? null,
    redriveCount: record.redriveCount,
    ...summary,
    eventCount: record.events.length,
    complete: gaps.length === 0,
    gaps,
    steps,
    signatures,
  };
}
