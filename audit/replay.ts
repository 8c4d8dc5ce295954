import { manifestProblem, type VerificationKey } from '../handlers/domain/signing';
import type { ExecutionRecord, HistoryEvent, SignInEvidence } from '../handlers/domain/execution-record';
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
  /** The Map or Parallel state this one ran inside; null at the top level. */
  parent: string | null;
  /** How many Map or Parallel states enclose this one (0 at the top level). */
  depth: number;
  /** The Map item (0-based) this state ran for, when the history says so. */
  iteration: number | null;
  enteredAt: string;
  exitedAt: string | null;
  durationMs: number | null;
  /** `aborted`: stopped from outside (a failed sibling branch, a stopped Map) before it ended. */
  result: 'succeeded' | 'failed' | 'aborted' | 'running';
  /** How many times the task's handler was invoked (retries included); 0 for other states. */
  tries: number;
  /** Every failed try or evaluation, as `Error: message`; the step's own, never a neighbour's. */
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
  signerSub: string;
  meaning: string;
  reason: string;
  signedAt: string;
  keyIds: string[];
  digest: string;
  /** The KMS key the manifest says signed it. */
  signingKeyId: string;
  /** Its KMS signature verifies with the public key and it names this execution, gate and keys. */
  verified: boolean;
  /** Something is wrong with it (not merely unchecked for want of a public key). */
  forged: boolean;
  problems: string[];
}

/** What a replay checks signatures with; without a public key no signature counts as verified. */
export interface ReplayOptions {
  publicKey?: VerificationKey;
}

/** The problem a signature has when no public key was given to check it. */
export const NO_PUBLIC_KEY = 'its KMS signature was not checked: no public key (--public-key)';

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
  /** Failed sign-ins at the execution's approvals, as the archive recorded them. */
  signIns: SignInEvidence[];
}

const TERMINAL = new Set(['ExecutionSucceeded', 'ExecutionFailed', 'ExecutionAborted', 'ExecutionTimedOut']);
const TASK_RESULT: Record<string, string> = {
  LambdaFunctionSucceeded: 'lambdaFunctionSucceededEventDetails',
  TaskSucceeded: 'taskSucceededEventDetails',
  ActivitySucceeded: 'activitySucceededEventDetails',
};
/** One invocation begins: a retry schedules again, so these count the tries. */
const TASK_START = new Set(['LambdaFunctionScheduled', 'TaskScheduled', 'ActivityScheduled']);
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
  ActivityFailed: 'activityFailedEventDetails',
  ActivityTimedOut: 'activityTimedOutEventDetails',
  ActivityScheduleFailed: 'activityScheduleFailedEventDetails',
  EvaluationFailed: 'evaluationFailedEventDetails',
  MapRunFailed: 'mapRunFailedEventDetails',
};
/** States that run other states: their events interleave with their children's. */
const CONTAINERS = new Set(['Map', 'Parallel']);
const WAITING_FOR_CALLBACK = 'callback requested; waiting for the task token';
const WAITING_FOR_SIGNATURE = 'approval requested; waiting for a signature';

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

/**
 * Who asked: the ARN Detect verified from the requester's proof (the first task result that
 * names one). Records from before proofs carry typed text in the input: said to be unverified.
 */
function requesterOf(record: ExecutionRecord): string | null {
  for (const event of record.events) {
    const field = TASK_RESULT[event.type];
    if (!field) continue;
    const output = parse(details(event, field).output) as {
      requestedBy?: unknown;
      Payload?: { requestedBy?: unknown };
    };
    const verified = output?.requestedBy ?? output?.Payload?.requestedBy;
    if (typeof verified === 'string') return verified;
  }
  const typed = (record.input as { requestedBy?: unknown } | null)?.requestedBy;
  return typeof typed === 'string' ? `${typed} (typed in the input, not verified)` : null;
}

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
  if (typeof record.kmsSignature === 'string' && typeof record.signer === 'string') {
    return `accepted the ${String(record.meaning)} signature of ${record.signer} (${String(record.signerId)}): KMS signature and binding checked`;
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
  options: ReplayOptions,
): ReplaySignature {
  const candidate = (raw ?? {}) as Partial<Signature>;
  const parsed = Signature.safeParse(raw);
  const problems: string[] = [];
  if (!parsed.success) problems.push('the signature is malformed');
  else {
    const fields = parsed.data;
    const forged = options.publicKey && manifestProblem(fields, options.publicKey);
    if (forged) problems.push(forged);
    if (fields.executionId !== expected.executionArn)
      problems.push(`it was signed for another execution (${fields.executionId})`);
    if (fields.state !== state) problems.push(`it was signed at another gate (${fields.state})`);
    const missing = expected.keyIds.filter((id) => !fields.keyIds.includes(id));
    if (missing.length > 0) problems.push(`it does not name ${missing.join(', ')}`);
  }
  const forged = problems.length > 0;
  if (!options.publicKey) problems.push(NO_PUBLIC_KEY);
  return {
    state,
    approvalId: String(candidate.approvalId ?? ''),
    signer: String(candidate.signer ?? ''),
    signerId: String(candidate.signerId ?? ''),
    signerSub: String(candidate.signerSub ?? ''),
    meaning: String(candidate.meaning ?? ''),
    reason: String(candidate.reason ?? ''),
    signedAt: String(candidate.signedAt ?? ''),
    keyIds: Array.isArray(candidate.keyIds) ? candidate.keyIds.map(String) : [],
    digest: String(candidate.digest ?? ''),
    signingKeyId: String(candidate.signingKeyId ?? ''),
    verified: problems.length === 0,
    forged,
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

/** `Error: cause` as a row shows it; either part may be missing. */
function failureText(failure: Record<string, unknown>, fallback: string): string {
  const error = typeof failure.error === 'string' && failure.error ? failure.error : fallback;
  const where = typeof failure.location === 'string' && failure.location ? ` at ${failure.location}` : '';
  const cause = causeMessage(typeof failure.cause === 'string' ? failure.cause : undefined);
  return [`${error}${where}`, cause].filter(Boolean).join(': ');
}

/** The `{Error, Cause}` a Catch put in a state's output (at its ResultPath or as the whole output). */
function caughtError(output: unknown): string | undefined {
  const isError = (value: unknown): value is { Error: string; Cause?: unknown } =>
    !!value && typeof value === 'object' && typeof (value as { Error?: unknown }).Error === 'string';
  const found = isError(output)
    ? output
    : output && typeof output === 'object'
      ? Object.values(output as Record<string, unknown>).find(isError)
      : undefined;
  return found ? failureText({ error: found.Error, cause: found.Cause }, 'States.ALL') : undefined;
}

/** What the replay remembers about a step while reading on; not part of the record. */
interface Scratch {
  lastResult: unknown;
  failedLast: boolean;
  parentStep: ReplayStep | undefined;
  items?: number;
  iterations: { succeeded: number; failed: number; aborted: number };
  mapRun?: string;
}

/**
 * Replay an execution from its history alone: one step per state entered (retries folded
 * into the step, redrives numbered, states inside a Map or Parallel placed under it), every
 * signature checked (its KMS signature with `options.publicKey`), the outcome and its cause. Events are attributed to their state through
 * `previousEventId`, which links each event to the one before it on its own branch, so
 * interleaved branches and Map iterations never lend each other their results or errors.
 */
export function replay(record: ExecutionRecord, options: ReplayOptions = {}): Replay {
  const summary = summarize(record.events as EventLike[]);
  const steps: ReplayStep[] = [];
  const signatures: ReplaySignature[] = [];
  const expectedKeys = (state: string) =>
    [summary.oldKeyId, state === GATE_STATES.DELETION ? summary.newKeyId : null].filter(
      (id): id is string => typeof id === 'string',
    );
  let attempt = 0;
  const scratch = new Map<ReplayStep, Scratch>();
  const byEvent = new Map<number, ReplayStep>();
  const iterationOf = new Map<number, number>();
  const running: ReplayStep[] = [];
  const memo = (step: ReplayStep) => scratch.get(step) as Scratch;

  const close = (step: ReplayStep, at: string, result: ReplayStep['result']) => {
    if (step.result !== 'running') return;
    step.exitedAt = at;
    step.durationMs = ms(step.enteredAt, at);
    step.result = result;
    running.splice(running.lastIndexOf(step), 1);
  };
  const within = (step: ReplayStep, container: ReplayStep) => {
    for (let up = memo(step).parentStep; up; up = memo(up).parentStep) if (up === container) return true;
    return false;
  };
  /** A container that ends ends its children: a Fail child failed, anything else was stopped. */
  const closeChildren = (container: ReplayStep, at: string) => {
    for (const step of [...running].reverse()) {
      if (step !== container && within(step, container))
        close(step, at, step.type === 'Fail' || memo(step).failedLast ? 'failed' : 'aborted');
    }
  };
  const latest = (test: (step: ReplayStep) => boolean) => running.findLast(test);
  /** The running state an event belongs to: its branch's, else the innermost one that fits. */
  const ownerOf = (event: HistoryEvent, fits: (step: ReplayStep) => boolean) => {
    for (let step = byEvent.get(event.previousEventId ?? 0); step; step = memo(step).parentStep) {
      if (step.result === 'running' && fits(step)) return step;
    }
    return latest(fits);
  };
  /** A container failed with `text`: its Fail state raised it, so that row says so too. */
  const blameFail = (container: ReplayStep, text: string) => {
    const raiser = steps.findLast(
      (step) => step.type === 'Fail' && step.result === 'failed' && step.errors.length === 0 && within(step, container),
    );
    if (raiser) {
      raiser.errors.push(text);
      raiser.did = text;
    }
  };
  const addError = (step: ReplayStep, text: string) => {
    if (step.did === WAITING_FOR_CALLBACK || step.did === WAITING_FOR_SIGNATURE) step.did = '';
    step.errors.push(text);
    memo(step).failedLast = true;
  };

  for (const event of record.events) {
    const type = event.type;
    let owner: ReplayStep | undefined;
    if (type.endsWith('StateEntered')) {
      const entered = details(event, 'stateEnteredEventDetails');
      const before = byEvent.get(event.previousEventId ?? 0);
      // The event before is the container's start, or the previous state on this branch.
      const parentStep =
        before && CONTAINERS.has(before.type) && before.result === 'running'
          ? before
          : before && memo(before).parentStep;
      const item = iterationOf.get(event.previousEventId ?? 0);
      // The state before on this branch ended if it has not said so (a Catch moved on from it).
      if (before && before !== parentStep) close(before, event.timestamp, 'failed');
      else if (!before) {
        const open = latest((step) => !CONTAINERS.has(step.type));
        if (open && !parentStep) close(open, event.timestamp, 'failed');
      }
      owner = {
        attempt,
        state: String(entered.name ?? '?'),
        type: type.slice(0, -'StateEntered'.length),
        parent: parentStep?.state ?? null,
        depth: parentStep ? parentStep.depth + 1 : 0,
        iteration: item ?? (before && before !== parentStep ? before.iteration : null),
        enteredAt: event.timestamp,
        exitedAt: null,
        durationMs: null,
        result: 'running',
        tries: 0,
        errors: [],
        did: '',
      };
      scratch.set(owner, {
        lastResult: undefined,
        failedLast: false,
        parentStep,
        iterations: { succeeded: 0, failed: 0, aborted: 0 },
      });
      steps.push(owner);
      running.push(owner);
    } else if (type.endsWith('StateExited')) {
      const exited = details(event, 'stateExitedEventDetails');
      owner = ownerOf(event, (step) => step.state === exited.name);
      if (owner) {
        const step = owner;
        const output = parse(exited.output);
        const caught = memo(step).failedLast || (CONTAINERS.has(step.type) && step.result === 'failed');
        if (CONTAINERS.has(step.type)) closeChildren(step, event.timestamp);
        // A caught failure exits the state too; the step still failed.
        if (step.result === 'running') close(step, event.timestamp, caught ? 'failed' : 'succeeded');
        else step.exitedAt ??= event.timestamp;
        const error = caught ? caughtError(output) : undefined;
        if (error && step.errors.length === 0) step.errors.push(error);
        if (error && CONTAINERS.has(step.type)) blameFail(step, error);
        if (step.type === 'Task' && !isGateState(step.state) && !caught)
          step.did = describeResult(memo(step).lastResult);
        if (step.type === 'Succeed') {
          const result = output as { outcome?: string; reason?: string } | undefined;
          step.did = [result?.outcome, result?.reason].filter(Boolean).join(': ');
        }
        if (step.type === 'Wait') step.did = `waited ${seconds(step.durationMs ?? 0)}`;
      }
    } else if (/^[A-Za-z]+StateAborted$/.test(type)) {
      const kind = type.slice(0, -'StateAborted'.length);
      owner = ownerOf(event, (step) => step.type === kind);
      if (owner) {
        if (CONTAINERS.has(owner.type)) closeChildren(owner, event.timestamp);
        close(owner, event.timestamp, 'aborted');
        if (owner.type === 'Wait') owner.did = `aborted after ${seconds(owner.durationMs ?? 0)}`;
      }
    } else if (
      /^(Map|Parallel)State(Started|Succeeded|Failed)$/.test(type) ||
      type.startsWith('MapIteration') ||
      type.startsWith('MapRun')
    ) {
      const kind = type.startsWith('Parallel') ? 'Parallel' : 'Map';
      owner = ownerOf(event, (step) => step.type === kind);
      if (owner) {
        const note = memo(owner);
        if (type === 'MapStateStarted') note.items = Number(details(event, 'mapStateStartedEventDetails').length ?? 0);
        else if (type === 'MapIterationStarted') {
          iterationOf.set(event.id, Number(details(event, 'mapIterationStartedEventDetails').index ?? 0));
        } else if (type === 'MapIterationSucceeded') note.iterations.succeeded += 1;
        else if (type === 'MapIterationFailed') note.iterations.failed += 1;
        else if (type === 'MapIterationAborted') note.iterations.aborted += 1;
        else if (type === 'MapRunStarted' || type === 'MapRunRedriven') {
          note.mapRun = String(details(event, `${type[0]?.toLowerCase()}${type.slice(1)}EventDetails`).mapRunArn ?? '');
        } else if (type === 'MapRunFailed') addError(owner, failureText(details(event, TASK_FAILURE[type]!), type));
        else if (type === 'MapRunAborted') addError(owner, 'MapRunAborted: the Map Run was stopped');
        else if (type.endsWith('StateSucceeded')) closeChildren(owner, event.timestamp);
        else if (type.endsWith('StateFailed')) {
          closeChildren(owner, event.timestamp);
          note.failedLast = true;
        }
      }
    } else if (TASK_START.has(type)) {
      owner = ownerOf(event, (step) => step.type === 'Task');
      if (owner) owner.tries += 1;
    } else if (type === 'TaskSubmitted') {
      owner = ownerOf(event, (step) => step.type === 'Task');
      if (owner) owner.did = isGateState(owner.state) ? WAITING_FOR_SIGNATURE : WAITING_FOR_CALLBACK;
    } else if (TASK_RESULT[type]) {
      owner = ownerOf(event, (step) => step.type === 'Task');
      if (owner) {
        const note = memo(owner);
        note.lastResult = parse(details(event, TASK_RESULT[type]).output);
        note.failedLast = false;
        if (isGateState(owner.state)) {
          const signature = checkSignature(
            note.lastResult,
            owner.state,
            { ...record, keyIds: expectedKeys(owner.state) },
            options,
          );
          signatures.push(signature);
          owner.did = `${signature.meaning} by ${signature.signer} (${signature.signerId})`;
        }
      }
    } else if (TASK_FAILURE[type]) {
      const failure = details(event, TASK_FAILURE[type]);
      // An evaluation failure names its state; a task's failure is its task's.
      const named = type === 'EvaluationFailed' ? failure.state : undefined;
      owner = ownerOf(event, (step) => (named ? step.state === named : step.type === 'Task'));
      if (owner) {
        addError(owner, failureText(failure, type));
        const cause = typeof failure.cause === 'string' ? failure.cause : undefined;
        const rejected = (parse(cause) as { signature?: unknown } | undefined)?.signature;
        if (rejected && isGateState(owner.state)) {
          const signature = checkSignature(
            rejected,
            owner.state,
            { ...record, keyIds: expectedKeys(owner.state) },
            options,
          );
          signatures.push(signature);
          owner.did = `${signature.meaning} by ${signature.signer} (${signature.signerId})`;
        }
      }
    } else if (type === 'ExecutionRedriven') {
      attempt = Number(details(event, 'executionRedrivenEventDetails').redriveCount ?? attempt + 1);
    } else if (TERMINAL.has(type)) {
      const ending =
        type === 'ExecutionSucceeded'
          ? undefined
          : details(event, `${type[0]?.toLowerCase()}${type.slice(1)}EventDetails`);
      // The execution's error belongs to the state that raised it: the innermost one running,
      // unless that state already recorded it (a task's last failed try).
      const culprit = latest((step) => !CONTAINERS.has(step.type)) ?? running.at(-1);
      if (culprit && ending && type !== 'ExecutionAborted') {
        const text = failureText(ending, type === 'ExecutionTimedOut' ? 'States.Timeout' : '');
        const code = typeof ending.error === 'string' ? ending.error : text;
        if (text && !culprit.errors.some((error) => error === text || (code && error.startsWith(code))))
          culprit.errors.push(text);
        if (culprit.type === 'Fail') culprit.did = text || 'failed without an error or a cause';
        if (CONTAINERS.has(culprit.type) && text) blameFail(culprit, text);
      }
      for (const step of [...running].reverse())
        close(step, event.timestamp, type === 'ExecutionSucceeded' ? 'succeeded' : 'failed');
    }
    if (owner) byEvent.set(event.id, owner);
  }

  for (const [index, step] of steps.entries()) {
    const note = memo(step);
    if (step.type === 'Choice') {
      const next = steps.slice(index + 1).find((later) => memo(later).parentStep === note.parentStep);
      step.did = `chose ${next?.state ?? '(nothing yet)'}`;
    }
    if (step.type === 'Map') {
      const { succeeded, failed, aborted } = note.iterations;
      const counted = succeeded + failed + aborted > 0;
      step.did = [
        note.items === undefined ? '' : `${note.items} item${note.items === 1 ? '' : 's'}`,
        counted ? `${succeeded} succeeded, ${failed} failed${aborted ? `, ${aborted} aborted` : ''}` : '',
        note.mapRun ? `Map Run ${note.mapRun}` : '',
      ]
        .filter(Boolean)
        .join('; ');
    }
    if (step.type === 'Parallel') step.did = step.result === 'succeeded' ? 'every branch succeeded' : '';
    if (step.type === 'Parallel' && step.result === 'failed') step.did = 'a branch failed';
    if (!step.did && step.errors.length > 0) step.did = `failed: ${step.errors.at(-1)}`;
    else if (step.type === 'Map' && step.errors.length > 0) step.did += `; failed: ${step.errors.at(-1)}`;
    if (step.errors.length > 0 && step.tries > 1) step.did += ` (${step.tries} tries)`;
  }

  // Executions keyrot did not shape fail with any error, or none: say which, never "undefined".
  const last = record.events.at(-1);
  if (summary.outcome === 'FAILED' && last?.type === 'ExecutionFailed') {
    summary.reason =
      failureText(details(last, 'executionFailedEventDetails'), '') || 'failed without an error or a cause';
  }
  const gaps = findGaps(record);
  return {
    executionArn: record.executionArn,
    name: record.name,
    stateMachineArn: record.stateMachineArn,
    user: userOf(record) ?? null,
    requestedBy: requesterOf(record),
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
    signIns: record.signIns ?? [],
  };
}
