import type { StateMachine } from 'aws-local-stepfunctions';
import type { HistoryEvent } from '../handlers/domain/execution-record';

/** One entry of the local engine's event log (the package does not export the type). */
export type EventLog = ReturnType<StateMachine['run']>['eventLogs'] extends AsyncGenerator<infer E> ? E : never;

/** One invocation of a task's handler, as the local engine's task wrapper saw it. */
export interface TaskAttempt {
  state: string;
  kind: 'lambda' | 'callback';
  resource: string;
  input: unknown;
  scheduledAt: number;
  submittedAt?: number;
  endedAt?: number;
  output?: unknown;
}

const STATE_EVENT: Record<string, string> = {
  Task: 'TaskState',
  Choice: 'ChoiceState',
  Pass: 'PassState',
  Wait: 'WaitState',
  Succeed: 'SucceedState',
  Fail: 'FailState',
  Map: 'MapState',
  Parallel: 'ParallelState',
};

const json = (value: unknown) => JSON.stringify(value ?? null);

/**
 * Turn the local engine's event log, plus the task wrapper's record of each handler call, into
 * the event list `GetExecutionHistory` returns for a deployed execution, so the audit command
 * reads local and deployed runs alike.
 */
export function toHistory(
  logs: EventLog[],
  attempts: TaskAttempt[],
  execution: { roleArn: string; aborted?: { error?: string; cause?: string } },
): HistoryEvent[] {
  const events: HistoryEvent[] = [];
  const pending = new Map<string, TaskAttempt[]>();
  for (const attempt of attempts) pending.set(attempt.state, [...(pending.get(attempt.state) ?? []), attempt]);
  const current = new Map<string, TaskAttempt | undefined>();

  const add = (type: string, at: number, details: Record<string, unknown> = {}) => {
    const id = events.length + 1;
    events.push({ id, previousEventId: id - 1, timestamp: new Date(at).toISOString(), type, ...details });
  };
  const resourceOf = (attempt: TaskAttempt) =>
    attempt.kind === 'callback'
      ? { resourceType: 'lambda', resource: 'invoke.waitForTaskToken' }
      : { resourceType: 'lambda', resource: 'invoke' };

  const start = (state: string) => {
    const attempt = pending.get(state)?.shift();
    current.set(state, attempt);
    if (!attempt) return;
    if (attempt.kind === 'lambda') {
      add('LambdaFunctionScheduled', attempt.scheduledAt, {
        lambdaFunctionScheduledEventDetails: { resource: attempt.resource, input: json(attempt.input) },
      });
      add('LambdaFunctionStarted', attempt.scheduledAt);
      return;
    }
    const where = resourceOf(attempt);
    add('TaskScheduled', attempt.scheduledAt, {
      taskScheduledEventDetails: { ...where, region: 'us-east-1', parameters: json(attempt.input) },
    });
    add('TaskStarted', attempt.scheduledAt, { taskStartedEventDetails: where });
    if (attempt.submittedAt) add('TaskSubmitted', attempt.submittedAt, { taskSubmittedEventDetails: where });
  };

  for (const log of logs) {
    // Whatever the engine logs while unwinding after the end is not part of the history.
    if (events.at(-1)?.type.match(/^Execution(Succeeded|Failed|Aborted|TimedOut)$/)) break;
    switch (log.type) {
      case 'ExecutionStarted':
        add('ExecutionStarted', log.timestamp, {
          executionStartedEventDetails: { input: json(log.input), roleArn: execution.roleArn },
        });
        break;
      case 'StateEntered':
        add(`${STATE_EVENT[log.state.type]}Entered`, log.timestamp, {
          stateEnteredEventDetails: { name: log.state.name, input: json(log.state.input) },
        });
        if (log.state.type === 'Task') start(log.state.name);
        break;
      case 'StateRetried':
        start(log.state.name);
        break;
      case 'StateFailed': {
        const attempt = current.get(log.state.name);
        if (log.state.type !== 'Task' || !attempt) break;
        current.set(log.state.name, undefined);
        const error = { error: log.Error, cause: String(log.Cause ?? '') };
        if (attempt.kind === 'lambda') {
          add('LambdaFunctionFailed', log.timestamp, { lambdaFunctionFailedEventDetails: error });
        } else {
          const type = log.Error === 'States.Timeout' ? 'TaskTimedOut' : 'TaskFailed';
          const key = type === 'TaskTimedOut' ? 'taskTimedOutEventDetails' : 'taskFailedEventDetails';
          add(type, log.timestamp, { [key]: { ...resourceOf(attempt), ...error } });
        }
        break;
      }
      case 'StateExited': {
        const attempt = current.get(log.state.name);
        if (log.state.type === 'Task' && attempt) {
          current.set(log.state.name, undefined);
          if (attempt.kind === 'lambda') {
            add('LambdaFunctionSucceeded', attempt.endedAt ?? log.timestamp, {
              lambdaFunctionSucceededEventDetails: { output: json(attempt.output) },
            });
          } else {
            add('TaskSucceeded', attempt.endedAt ?? log.timestamp, {
              taskSucceededEventDetails: { ...resourceOf(attempt), output: json(attempt.output) },
            });
          }
        }
        add(`${STATE_EVENT[log.state.type]}Exited`, log.timestamp, {
          stateExitedEventDetails: { name: log.state.name, output: json(log.state.output) },
        });
        break;
      }
      case 'ExecutionSucceeded':
        add('ExecutionSucceeded', log.timestamp, { executionSucceededEventDetails: { output: json(log.output) } });
        break;
      case 'ExecutionFailed':
        add('ExecutionFailed', log.timestamp, {
          executionFailedEventDetails: { error: log.Error, cause: String(log.Cause ?? '') },
        });
        break;
      case 'ExecutionAborted':
        add('ExecutionAborted', log.timestamp, { executionAbortedEventDetails: { ...execution.aborted } });
        break;
      case 'ExecutionTimeout':
        add('ExecutionTimedOut', log.timestamp, { executionTimedOutEventDetails: {} });
        break;
      default:
        break;
    }
  }
  // A task whose handler has returned but whose state has not exited yet (a snapshot taken in
  // between): its result is already a fact, so the record names a created key at once.
  if (!events.at(-1)?.type.match(/^Execution(Succeeded|Failed|Aborted|TimedOut)$/)) {
    for (const attempt of current.values()) {
      if (attempt?.endedAt === undefined) continue;
      if (attempt.kind === 'lambda') {
        add('LambdaFunctionSucceeded', attempt.endedAt, {
          lambdaFunctionSucceededEventDetails: { output: json(attempt.output) },
        });
      } else {
        add('TaskSucceeded', attempt.endedAt, {
          taskSucceededEventDetails: { ...resourceOf(attempt), output: json(attempt.output) },
        });
      }
    }
  }
  return events;
}

/**
 * The largest payload in a history (a state's input or output, a task's parameters, a
 * result), in UTF-8 bytes, and the event that carried it: Step Functions fails an execution
 * whose payload passes 256 KiB.
 */
export function largestPayload(events: HistoryEvent[]): { bytes: number; type: string } {
  let largest = { bytes: 0, type: '' };
  for (const event of events) {
    for (const value of Object.values(event)) {
      if (!value || typeof value !== 'object') continue;
      for (const field of ['input', 'output', 'parameters'] as const) {
        const payload = (value as Record<string, unknown>)[field];
        const bytes = typeof payload === 'string' ? Buffer.byteLength(payload) : 0;
        if (bytes > largest.bytes) largest = { bytes, type: event.type };
      }
    }
  }
  return largest;
}
