import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { replay } from '../audit/replay';
import { duration, headline, table, utc } from '../audit/render';
import { jsonText, printable } from '../handlers/shared/printable';
import { isGateState } from '../handlers/shared/schemas';
import type { ExecutionRecord } from '../handlers/domain/execution-record';
import type { RollbackResult } from '../handlers/domain/rollback';
import { findExecution, saveRecord, takeOver, type StoredExecution } from '../local/store';
import { CommandError, PROCESS_GONE, type ExecutionSource, type ExecutionSummary, type ListFilter } from './executions';
import { archiveLocal, lastState, rollBackFromHistory, rollbackStateOf, statesEntered } from './local-runs';
import { EXIT_CODES, exitCodeFor } from './outcome';

const print = (line = '') => process.stdout.write(`${line}\n`);

/** `keyrot status`: where an execution stands, or how it ended. */
export async function status(source: ExecutionSource, id: string, options: { json: boolean }): Promise<number> {
  const record = await source.read(id);
  const replayed = replay(record);
  const last = replayed.steps.at(-1);
  const running = replayed.status === 'RUNNING';
  // A local run whose process died: where it stood, and how to recover, instead of RUNNING.
  const gone = replayed.status === PROCESS_GONE;
  const pid = (record as StoredExecution).pid;
  const waitingForApproval = running && last !== undefined && isGateState(last.state);
  if (options.json) {
    print(
      jsonText({
        executionArn: replayed.executionArn,
        name: replayed.name,
        user: replayed.user,
        status: replayed.status,
        outcome: replayed.outcome,
        reason: replayed.reason,
        currentStep: last ? { state: last.state, since: last.enteredAt, result: last.result } : null,
        waitingForApproval,
        processGone: gone,
        stepsSoFar: replayed.steps.length,
        complete: replayed.complete,
        gaps: replayed.gaps,
      }),
    );
  } else {
    for (const [label, value] of headline(replayed)) print(`${label.padEnd(10)} ${printable(value)}`);
    if (last && gone) {
      print(`Now        process gone: process ${pid ?? '?'} died during ${last.state}; the history is incomplete`);
      print(
        `Recover    keyrot resume ${replayed.name} (continue from ${last.state}) or ` +
          `keyrot abort ${replayed.name} --local --reason <text> (roll back)`,
      );
    } else if (last) {
      const since = Date.now() - Date.parse(last.enteredAt);
      print(
        running
          ? `Now        ${last.state} for ${duration(since)}${waitingForApproval ? ': waiting for an approver to sign' : ''}`
          : `Last step  ${last.state} (${last.result}) at ${utc(last.enteredAt)}`,
      );
    }
    print(
      `Steps      ${replayed.steps.length} so far; full timeline: keyrot audit ${replayed.name}${source.kind === 'local' ? ' --from local' : ''}`,
    );
  }
  if (gone) return EXIT_CODES.TAMPERED;
  return running ? 0 : exitCodeFor(replayed);
}

/** `keyrot list`: executions, newest first, filtered. */
export async function list(source: ExecutionSource, filter: ListFilter, options: { json: boolean }): Promise<number> {
  return printExecutions(await source.list(filter), options);
}

/** Executions as a table (or one JSON array). */
export function printExecutions(found: ExecutionSummary[], options: { json: boolean }): number {
  if (options.json) {
    print(jsonText(found));
    return 0;
  }
  if (found.length === 0) {
    process.stderr.write('no executions match\n');
    return 0;
  }
  const rows = [
    ['STARTED (UTC)', 'NAME', 'USER', 'STATUS', 'OUTCOME', 'REASON'],
    ...found.map((e: ExecutionSummary) => [
      e.startDate.slice(0, 19).replace('T', ' '),
      e.name,
      e.user ?? '-',
      e.status,
      e.outcome,
      (e.reason ?? '').slice(0, 80),
    ]),
  ];
  print(table(rows));
  return 0;
}

/** What an abort must do about keys, from the states the history entered. */
function keyStage(record: ExecutionRecord): 'none' | 'created' | 'deleting' {
  const entered = statesEntered(record);
  if (!entered.has('Create Access Key')) return 'none';
  // From Delete Old Key on, the old key may be gone: a rollback could not restore it.
  return entered.has('Delete Old Key') && !entered.has('Roll Back') ? 'deleting' : 'created';
}

/** The Lambda function a deployed definition's Roll Back state invokes. */
function rollbackFunction(record: ExecutionRecord): string | undefined {
  try {
    const definition = JSON.parse(record.definition ?? '{}') as {
      States?: Record<string, { Resource?: string; Parameters?: { FunctionName?: string } }>;
    };
    const state = definition.States?.['Roll Back'];
    return state?.Parameters?.FunctionName ?? state?.Resource;
  } catch {
    return undefined;
  }
}

/**
 * `keyrot abort`: stop a running execution, recording who and why. Past Create Access Key a
 * local abort runs the rollback (the Roll Back state's own function, on the state rebuilt from
 * the history) so one key remains; a deployed one is stopped and the stack's roll-back function
 * (the one its Roll Back state invokes) runs on the state its history holds. `--force` skips
 * the rollback and says what it leaves behind.
 */
export async function abort(
  source: ExecutionSource,
  id: string,
  options: { reason: string; by: string; force: boolean; json: boolean },
  deps: AbortDeps = { lambda: new LambdaClient({}), sleep: (ms) => new Promise((r) => setTimeout(r, ms)) },
): Promise<number> {
  const reason = options.reason.trim();
  if (!reason) throw new CommandError('--reason must say why the execution is aborted', EXIT_CODES.INVALID);
  const record = await source.read(id);
  const replayed = replay(record);
  const details = { error: 'keyrot.Aborted', cause: `aborted by ${options.by}: ${reason}` };
  const stage = record.status === 'RUNNING' || record.status === PROCESS_GONE ? keyStage(record) : 'none';
  const newKey = replayed.newKeyId ?? 'the key Create Access Key made';
  const gate = replayed.steps.at(-1)?.state;
  const rejectInstead =
    gate && isGateState(gate) ? `It waits at ${gate}: reject it (keyrot reject <approval> --reason ...). ` : '';

  if (stage === 'deleting' && !options.force) {
    throw new CommandError(
      `${replayed.name} is past Delete Old Key: the old key ${replayed.oldKeyId ?? ''} may be gone, so a rollback ` +
        `cannot restore it. ${source.kind === 'local' ? `Finish it with keyrot resume ${replayed.name}, or p` : 'P'}` +
        'ass --force to abort anyway.',
      EXIT_CODES.INVALID,
    );
  }
  const fn = source.kind === 'api' && stage === 'created' && !options.force ? rollbackFunction(record) : undefined;
  if (source.kind === 'api' && stage === 'created' && !options.force && !fn) {
    throw new CommandError(
      `${replayed.name}'s definition names no Roll Back function to run, so stopping it would leave two keys. ` +
        `${rejectInstead}Pass --force to stop it anyway.`,
      EXIT_CODES.INVALID,
    );
  }
  if (fn) return abortDeployed(source, record, { ...details, function: fn, by: options.by }, deps, options.json);

  const wasGone = record.status === PROCESS_GONE;
  const release = wasGone ? takeOver(record.name) : () => {};
  if (!release)
    throw new CommandError(`${record.name} is being recovered by another keyrot command`, EXIT_CODES.CONFLICT);
  try {
    const rollsBack = stage === 'created' && !options.force;
    const stopped = await source.abort(id, { ...details, ...(rollsBack ? { rollback: true } : {}) });
    const lines = [`${stopped.status}  ${stopped.name}: ${printable(stopped.reason ?? '')}`];
    let code = 0;
    let rolledBack: RollbackResult | undefined;
    if (source.kind === 'local' && (rollsBack || wasGone)) {
      let closed = findExecution(stopped.name) as StoredExecution;
      if (rollsBack) {
        rolledBack = await rollBackFromHistory(closed, { Error: details.error, Cause: details.cause });
        closed = {
          ...closed,
          closedBy: { command: 'keyrot abort', by: options.by, at: new Date().toISOString(), ...rolledBack },
        };
        saveRecord(closed);
        lines.push(`${rolledBack.outcome}  ${rolledBack.actions.join('; ') || 'nothing to undo'}`);
        if (rolledBack.outcome !== 'ROLLED_BACK') code = EXIT_CODES.ROLLBACK_FAILED;
      }
      const archived = await archiveLocal(closed);
      if (archived) lines.push(`archived ${archived.address}${closed.incomplete ? ' (marked incomplete)' : ''}`);
    }
    if (stage === 'created' && options.force) {
      lines.push(
        `left behind (--force): ${newKey} and the old key ${replayed.oldKeyId ?? '?'} both exist, and the secret ` +
          `is as ${lastState(record) ?? 'the last step'} left it; run the rollback before the next rotation`,
      );
    }
    if (options.json) print(jsonText({ ...stopped, ...(rolledBack ? { rollback: rolledBack } : {}) }));
    else for (const line of lines) print(line);
    return code;
  } finally {
    release();
  }
}

/** What a deployed abort reaches besides Step Functions: the stack's roll-back function, and time. */
export interface AbortDeps {
  lambda: Pick<LambdaClient, 'send'>;
  sleep: (ms: number) => Promise<void>;
}

/** Lambda's own ceiling: a function in flight has ended by then, whatever its timeout. */
const LAMBDA_MAX_SECONDS = 900;

/**
 * A Lambda task still running when the execution stopped, and when it has ended for certain:
 * StopExecution does not stop a function already invoked, so one may still change keys or the
 * secret after the stop. Undefined when no function was in flight.
 */
export function inFlightFunction(record: Pick<ExecutionRecord, 'events'>): { state: string; until: Date } | undefined {
  const scheduledAt = record.events.findLastIndex(
    (e) => e.type === 'TaskScheduled' || e.type === 'LambdaFunctionScheduled',
  );
  const scheduled = record.events[scheduledAt];
  if (!scheduled) return undefined;
  const details = (scheduled.taskScheduledEventDetails ?? scheduled.lambdaFunctionScheduledEventDetails) as
    { resource?: string; timeoutInSeconds?: number } | undefined;
  // A callback task's function has returned once the task is submitted; the wait is not a function.
  const ended = new Set([
    ...['TaskSucceeded', 'TaskFailed', 'TaskTimedOut', 'TaskStartFailed', 'TaskSubmitFailed', 'TaskStateExited'],
    ...['LambdaFunctionSucceeded', 'LambdaFunctionFailed', 'LambdaFunctionTimedOut', 'LambdaFunctionStartFailed'],
    ...(details?.resource?.endsWith('.waitForTaskToken') ? ['TaskSubmitted'] : []),
  ]);
  if (record.events.slice(scheduledAt + 1).some((e) => ended.has(e.type))) return undefined;
  const seconds = Math.min(details?.timeoutInSeconds ?? LAMBDA_MAX_SECONDS, LAMBDA_MAX_SECONDS);
  return {
    state: lastState(record) ?? 'a task',
    until: new Date(Date.parse(scheduled.timestamp) + seconds * 1000),
  };
}

/**
 * Abort a deployed execution past Create Access Key: stop it, let a function still in flight
 * end, then invoke the stack's roll-back function (the one its Roll Back state invokes) on the
 * state the history holds. The rollback works from what exists in IAM and Secrets Manager, so
 * it also undoes what a function in flight did after the stop.
 */
async function abortDeployed(
  source: ExecutionSource,
  record: ExecutionRecord,
  details: { error: string; cause: string; function: string; by: string },
  deps: AbortDeps,
  json: boolean,
): Promise<number> {
  const cause = `${details.cause}; keyrot abort runs the roll-back function ${details.function}`;
  // Refused before the stop when the history cannot give the rollback its state.
  rollbackStateOf(record, { Error: details.error, Cause: cause });
  const stopped = await source.abort(record.executionArn, { error: details.error, cause });
  const after = await source.read(record.executionArn);
  const inFlight = inFlightFunction(after);
  if (inFlight && inFlight.until.getTime() > Date.now()) {
    const seconds = Math.ceil((inFlight.until.getTime() - Date.now()) / 1000);
    process.stderr.write(
      `waiting ${seconds} s for ${inFlight.state}'s function, which StopExecution does not stop, to end...\n`,
    );
    await deps.sleep(inFlight.until.getTime() - Date.now());
  }
  const state = rollbackStateOf(after, { Error: details.error, Cause: cause });
  const invoked = await deps.lambda.send(
    new InvokeCommand({ FunctionName: details.function, Payload: new TextEncoder().encode(JSON.stringify(state)) }),
  );
  const payload = new TextDecoder().decode(invoked.Payload ?? new Uint8Array());
  const rolledBack: RollbackResult = invoked.FunctionError
    ? { outcome: 'ROLLBACK_FAILED', cause: `${details.function} failed: ${errorMessageOf(payload)}`, actions: [] }
    : (JSON.parse(payload) as RollbackResult);
  if (json) print(JSON.stringify({ ...stopped, rollback: rolledBack }));
  else {
    print(`${stopped.status}  ${stopped.name}: ${stopped.reason || cause}`);
    print(`${rolledBack.outcome}  ${rolledBack.actions.join('; ') || rolledBack.cause}`);
  }
  return rolledBack.outcome === 'ROLLED_BACK' ? 0 : EXIT_CODES.ROLLBACK_FAILED;
}

/** A Lambda function error's message, from its error payload. */
function errorMessageOf(payload: string): string {
  try {
    const parsed = JSON.parse(payload) as { errorType?: string; errorMessage?: string };
    return [parsed.errorType, parsed.errorMessage].filter(Boolean).join(': ') || payload;
  } catch {
    return payload;
  }
}
