import { AsyncLocalStorage } from 'node:async_hooks';
import { randomUUID } from 'node:crypto';
import { StateMachine } from 'aws-local-stepfunctions';
import type { TaskCallbacks } from '../handlers/domain/approvals';
import { logger } from '../handlers/shared/logger';
import { handlerOf, type LocalHandlerName, type LocalState, type SynthesizedDefinition } from './definition';
import { asHandler, recordCallLedger } from './ledger';
import { appendLog } from './store';
import type { ExecutionRecord, HistoryEvent } from '../handlers/domain/execution-record';
import { toHistory, type EventLog, type TaskAttempt } from './history';
import { redactProofs } from '../handlers/domain/requester';

const ROLE_ARN = 'arn:aws:iam::000000000000:role/keyrot-local';

/** What `$$.Task.Token` holds in the context; each callback task swaps in a fresh token. */
const TOKEN_PLACEHOLDER = 'keyrot-local-task-token';

type LambdaHandler = (event: unknown, context: unknown) => Promise<unknown>;

/** An error as the Lambda service reports it to Step Functions: name and a JSON cause. */
class LambdaError extends Error {
  constructor(name: string, message: string) {
    super(JSON.stringify({ errorType: name, errorMessage: message }));
    this.name = name;
  }
}

/** Waiting callback tasks by token; SendTaskSuccess/Failure resolve them, as the SFN API does. */
export class LocalTaskTokens implements TaskCallbacks {
  readonly #waiting = new Map<string, { resolve: (output: unknown) => void; reject: (error: Error) => void }>();

  wait(token: string): Promise<unknown> {
    return new Promise((resolve, reject) => this.#waiting.set(token, { resolve, reject }));
  }

  forget(token: string): void {
    this.#waiting.delete(token);
  }

  async sendTaskSuccess(taskToken: string, output: string): Promise<void> {
    this.#take(taskToken).resolve(JSON.parse(output));
  }

  async sendTaskFailure(taskToken: string, error: string, cause: string): Promise<void> {
    this.#take(taskToken).reject(new LambdaErrorLike(error, cause));
  }

  #take(token: string) {
    const waiting = this.#waiting.get(token);
    if (!waiting) throw new TaskTimedOutError('the task token is unknown, already used or timed out');
    this.#waiting.delete(token);
    return waiting;
  }
}

/** SendTaskFailure's error as the waiting state sees it: its name is the error. */
class LambdaErrorLike extends Error {
  constructor(name: string, cause: string) {
    super(cause);
    this.name = name;
  }
}

/** Definitions the engine has validated already. */
const validated = new WeakSet<object>();

/** The SFN API's answer to a token that no longer waits. */
export class TaskTimedOutError extends Error {
  override readonly name = 'TaskTimedOut';
}

export interface LocalRunOptions {
  input: unknown;
  /** Execution name; a unique one is made when absent. */
  name?: string;
  tokens: LocalTaskTokens;
  /** `skip` makes every Wait state and retry pause instant (tests, benchmarks). */
  waits?: 'real' | 'skip';
  /** Each engine event as it happens: for progress display. */
  onEvent?: (event: EventLog) => void;
  /** A callback task has handed its token to the handler and now waits for a decision. */
  onWaiting?: (state: string, executionArn: string) => void;
  /** Where handler log lines go; each run has its own. */
  onLog?: (line: string) => void;
  /** Stop the run as StopExecution does; `reason` ({error, cause}) lands in ExecutionAborted. */
  abort?: AbortSignal;
  /** The history so far, after every state entered: for a record others can read while it runs. */
  onSnapshot?: (record: ExecutionRecord) => void;
  /**
   * Continue a run whose process died, as a Step Functions redrive does: the record's history
   * stays, an ExecutionRedriven event follows it, and the definition runs again from `startAt`
   * (the state that never finished) with `input` (what that state was given).
   */
  resume?: { record: ExecutionRecord; startAt: string; input: unknown };
  /** Called around every handler invocation; tests inject crashes here. */
  around?: (handler: LocalHandlerName, invoke: () => Promise<unknown>) => Promise<unknown>;
}

/** A finished local run: the same record the audit reads from the API or the archive, plus its logs. */
export interface LocalExecution extends ExecutionRecord {
  status: 'SUCCEEDED' | 'FAILED' | 'ABORTED' | 'TIMED_OUT';
  stopDate: string;
  output?: unknown;
  error?: string;
  cause?: string;
  logs: string[];
}

const runContext = new AsyncLocalStorage<{ log: (line: string) => void }>();
// Lines outside a run (the local approval server deciding, the archiver) go to the store's
// log file, keeping the terminal for the command's own output.
logger.routeTo((line) => {
  const run = runContext.getStore();
  if (run) run.log(line);
  else appendLog(line);
});

const handlerCache = new Map<LocalHandlerName, Promise<LambdaHandler>>();
function loadHandler(name: LocalHandlerName): Promise<LambdaHandler> {
  let loaded = handlerCache.get(name);
  if (!loaded) {
    loaded = import(`../handlers/${name}.ts`).then((module: { handler: LambdaHandler }) => module.handler);
    handlerCache.set(name, loaded);
  }
  return loaded;
}

function lambdaContext(name: LocalHandlerName) {
  return {
    functionName: `keyrot-${name}`,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:us-east-1:000000000000:function:keyrot-${name}`,
    memoryLimitInMB: '256',
    awsRequestId: randomUUID(),
    logGroupName: `/aws/lambda/keyrot-${name}`,
    logStreamName: 'local',
    callbackWaitsForEmptyEventLoop: false,
    getRemainingTimeInMillis: () => 60_000,
  };
}

/** A promise that rejects when the signal aborts; dispose it once the wait is over. */
function whenAborted(signal: AbortSignal | undefined): { promise: Promise<never>; dispose: () => void } {
  let fail = () => {};
  const promise = new Promise<never>((_, reject) => {
    fail = () => reject(new LambdaError('ExecutionAborted', 'the execution was aborted'));
  });
  promise.catch(() => {});
  if (signal?.aborted) fail();
  signal?.addEventListener('abort', fail, { once: true });
  return { promise, dispose: () => signal?.removeEventListener('abort', fail) };
}

/**
 * A callback task's TimeoutSeconds as the service enforces it: once it passes, the token is
 * refused (TaskTimedOut) rather than quietly accepted by a wait nobody resumes.
 */
function timesOut(seconds: number | undefined): { promise: Promise<never>; dispose: () => void } {
  let timer: NodeJS.Timeout | undefined;
  const promise = new Promise<never>((_, reject) => {
    if (seconds === undefined) return;
    timer = setTimeout(
      () => reject(new LambdaError('States.Timeout', `no decision within ${seconds} seconds`)),
      seconds * 1000,
    );
    // Like the engine's own task timer, it does not by itself keep the process alive.
    timer.unref();
  });
  promise.catch(() => {});
  return { promise, dispose: () => clearTimeout(timer) };
}

/** The execution record of a local run, without what only the run itself keeps (logs, output). */
export function recordOf(execution: LocalExecution): ExecutionRecord {
  const { logs: _logs, output: _output, error: _error, cause: _cause, ...record } = execution;
  return redactProofs(record);
}

/**
 * A redriven history as Step Functions writes it: the events so far, ExecutionRedriven, then
 * the new run's events (its own ExecutionStarted dropped) numbered on from there.
 */
function continued(before: HistoryEvent[], after: HistoryEvent[], redriveCount: number): HistoryEvent[] {
  const last = before.at(-1);
  const offset = (last?.id ?? 0) + 1;
  const redriven: HistoryEvent = {
    id: offset,
    previousEventId: last?.id ?? 0,
    timestamp: after[0]?.timestamp ?? new Date().toISOString(),
    type: 'ExecutionRedriven',
    executionRedrivenEventDetails: { redriveCount },
  };
  const rest = after
    .filter((event) => event.type !== 'ExecutionStarted')
    .map((event, index) => ({ ...event, id: offset + index + 1, previousEventId: offset + index }));
  return [...before, redriven, ...rest];
}

/** The ARN a local execution gets, shaped like a deployed one in the local account. */
export function localExecutionArn(stateMachineName: string, name: string): string {
  return `arn:aws:states:us-east-1:000000000000:execution:${stateMachineName}:${name}`;
}

/**
 * Run the synthesized definition with `aws-local-stepfunctions`, each Lambda task mapped to its
 * handler in-process, and return the execution with its history in `GetExecutionHistory` form.
 */
export async function runLocal(synthesized: SynthesizedDefinition, options: LocalRunOptions): Promise<LocalExecution> {
  recordCallLedger();
  const name = options.name ?? `local-${new Date().toISOString().replace(/[-:.]/g, '')}-${randomUUID().slice(0, 8)}`;
  const stateMachineArn = `arn:aws:states:us-east-1:000000000000:stateMachine:${synthesized.stateMachineName}`;
  const executionArn = localExecutionArn(synthesized.stateMachineName, name);
  const attempts: TaskAttempt[] = [];
  const logs: string[] = [];
  const run = { log: (line: string) => (logs.push(line), options.onLog?.(line)) };

  const invoke = async (fn: LocalHandlerName, event: unknown): Promise<unknown> => {
    // After an abort nothing more may act on AWS, whatever the engine still unwinds.
    if (options.abort?.aborted) throw new LambdaError('ExecutionAborted', 'the execution was aborted');
    const handler = await loadHandler(fn);
    // A Lambda sees JSON, not objects: round-trip so local and deployed behave alike.
    const payload = JSON.parse(JSON.stringify(event)) as unknown;
    const call = () => runContext.run(run, () => asHandler(fn, () => handler(payload, lambdaContext(fn))));
    try {
      const result = await (options.around ? options.around(fn, call) : call());
      return JSON.parse(JSON.stringify(result ?? null)) as unknown;
    } catch (error) {
      const failure = error instanceof Error ? error : new Error(String(error));
      throw new LambdaError(failure.name, failure.message);
    }
  };

  const overrides: Record<string, (input: unknown) => Promise<unknown>> = {};
  const waitOverrides: Record<string, number> = {};
  const retryOverrides: Record<string, number> = {};
  // Every state, including those inside a Map's item processor (overrides are keyed by name).
  const allStates = (states: Record<string, LocalState>): [string, LocalState][] =>
    Object.entries(states).flatMap(([name, state]) => [
      [name, state] as [string, LocalState],
      ...(state.ItemProcessor ? allStates(state.ItemProcessor.States) : []),
    ]);
  for (const [state, definition] of allStates(synthesized.definition.States)) {
    if (definition.Type === 'Wait') waitOverrides[state] = 0;
    if (definition.Type !== 'Task') continue;
    retryOverrides[state] = 0;
    const resource = definition.Resource ?? '';
    if (resource.startsWith('arn:aws:lambda:')) {
      const fn = handlerOf(resource);
      overrides[state] = async (input) => {
        const attempt: TaskAttempt = { state, kind: 'lambda', resource, input, scheduledAt: Date.now() };
        attempts.push(attempt);
        attempt.output = await invoke(fn, input);
        attempt.endedAt = Date.now();
        // Persisted before the next state starts: a kill from here on finds the result (the
        // created key's id) in the record, not only in IAM.
        options.onSnapshot?.(record('RUNNING'));
        return attempt.output;
      };
    } else if (resource === 'arn:aws:states:::lambda:invoke.waitForTaskToken') {
      overrides[state] = async (input) => {
        const parameters = input as { FunctionName: string; Payload: Record<string, unknown> };
        const token = `${TOKEN_PLACEHOLDER}:${name}:${randomUUID()}`;
        const attempt: TaskAttempt = { state, kind: 'callback', resource, input, scheduledAt: Date.now() };
        attempts.push(attempt);
        const decision = options.tokens.wait(token);
        // An abort ends the wait too, or the engine's task timer would hold the process for a day.
        const aborted = whenAborted(options.abort);
        const expired = timesOut(definition.TimeoutSeconds);
        try {
          await invoke(handlerOf(parameters.FunctionName), { ...parameters.Payload, taskToken: token });
          attempt.submittedAt = Date.now();
          // Whatever decides runs in this run's context, so its log lines join the run's log.
          runContext.run(run, () => options.onWaiting?.(state, executionArn));
          attempt.output = await Promise.race([decision, aborted.promise, expired.promise]);
          attempt.endedAt = Date.now();
          options.onSnapshot?.(record('RUNNING'));
          return attempt.output;
        } finally {
          aborted.dispose();
          expired.dispose();
          options.tokens.forget(token);
        }
      };
    } else {
      throw new Error(`state ${state} uses ${resource}, which local mode does not run`);
    }
  }

  // Validating the definition (asl-validator) takes ~275 ms; once per definition is enough.
  // A resumed run is the same definition entered at another state (the engine has no option
  // to start elsewhere), so it was validated when it first ran.
  const resume = options.resume;
  const machine = new StateMachine(
    (resume ? { ...synthesized.definition, StartAt: resume.startAt } : synthesized.definition) as never,
    {
      validationOptions: resume || validated.has(synthesized.definition) ? { noValidate: true } : { checkArn: true },
    },
  );
  if (!resume) validated.add(synthesized.definition);
  const startDate = resume ? new Date(resume.record.startDate) : new Date();
  const execution = machine.run((resume ? resume.input : options.input) as never, {
    overrides: {
      taskResourceLocalHandlers: overrides as never,
      ...(options.waits === 'skip' ? { waitTimeOverrides: waitOverrides, retryIntervalOverrides: retryOverrides } : {}),
    },
    context: {
      Execution: { Id: executionArn, Name: name, RoleArn: ROLE_ARN },
      StateMachine: { Id: stateMachineArn, Name: synthesized.stateMachineName },
      Task: { Token: TOKEN_PLACEHOLDER },
    },
  });

  // Only StopExecution's two fields reach the history, whatever else the request carried.
  const abortDetails = () => {
    const { error, cause } = (options.abort?.reason ?? {}) as { error?: string; cause?: string };
    return { ...(error !== undefined ? { error } : {}), ...(cause !== undefined ? { cause } : {}) };
  };
  const redriveCount = resume ? resume.record.redriveCount + 1 : 0;
  const history = () => {
    const own = toHistory(eventLogs, attempts, { roleArn: ROLE_ARN, aborted: abortDetails() });
    return resume ? continued(resume.record.events, own, redriveCount) : own;
  };
  const record = (status: string, events = history()): ExecutionRecord => ({
    executionArn,
    stateMachineArn,
    name,
    status,
    startDate: startDate.toISOString(),
    redriveCount,
    input: resume ? resume.record.input : options.input,
    definition: JSON.stringify(synthesized.definition),
    events,
  });
  if (options.abort?.aborted) execution.abort();
  options.abort?.addEventListener('abort', () => execution.abort(), { once: true });

  const eventLogs: EventLog[] = [];
  const collecting = (async () => {
    for await (const event of execution.eventLogs) {
      eventLogs.push(event);
      options.onEvent?.(event);
      if (event.type === 'StateEntered') options.onSnapshot?.(record('RUNNING'));
    }
  })();
  let output: unknown;
  try {
    output = await execution.result;
  } catch {
    // The failure is in the event log as ExecutionFailed; the history carries it.
  }
  await Promise.race([collecting, new Promise((resolve) => setTimeout(resolve, 100))]);

  const events = history();
  const last = events.at(-1);
  const failed = last?.executionFailedEventDetails as { error: string; cause: string } | undefined;
  const status =
    last?.type === 'ExecutionSucceeded'
      ? 'SUCCEEDED'
      : last?.type === 'ExecutionAborted'
        ? 'ABORTED'
        : last?.type === 'ExecutionTimedOut'
          ? 'TIMED_OUT'
          : 'FAILED';
  return {
    ...record(status, events),
    status,
    stopDate: new Date().toISOString(),
    ...(status === 'SUCCEEDED' ? { output } : {}),
    ...(failed ? { error: failed.error, cause: failed.cause } : {}),
    events,
    logs,
  };
}
