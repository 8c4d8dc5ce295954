import { archiveEnded, archiveSettings } from '../handlers/domain/archive';
import { endingOf, type ExecutionRecord, type HistoryEvent } from '../handlers/domain/execution-record';
import { rollback, RollbackState, type RollbackResult } from '../handlers/domain/rollback';
import { clients, clientsFor, settings } from '../handlers/shared/clients';
import { asHandler } from '../local/ledger';
import type { StoredExecution } from '../local/store';

// Recovering a rotation whose process died: where it stopped, what state it had, how to close
// its record, and the rollback the Roll Back state would have run. Shared by abort and resume.

const parse = (text: unknown): unknown => {
  if (typeof text !== 'string') return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
};

type StateEvent = { event: HistoryEvent; name: string; kind: 'entered' | 'exited'; data: unknown };

/** The state-level events of a history (entered with its input, exited with its output), in order. */
function stateEvents(events: HistoryEvent[]): StateEvent[] {
  return events.flatMap((event): StateEvent[] => {
    const entered = event.stateEnteredEventDetails as { name?: string; input?: string } | undefined;
    if (entered?.name) return [{ event, name: entered.name, kind: 'entered', data: parse(entered.input) }];
    const exited = event.stateExitedEventDetails as { name?: string; output?: string } | undefined;
    if (exited?.name) return [{ event, name: exited.name, kind: 'exited', data: parse(exited.output) }];
    return [];
  });
}

/** The names of the states a history entered. */
export function statesEntered(record: Pick<ExecutionRecord, 'events'>): Set<string> {
  return new Set(
    stateEvents(record.events)
      .filter((e) => e.kind === 'entered')
      .map((e) => e.name),
  );
}

/** The state a history was in when it stopped (entered, not exited), or the last one it left. */
export function lastState(record: Pick<ExecutionRecord, 'events'>): string | undefined {
  return stateEvents(record.events).at(-1)?.name;
}

type Definition = { States: Record<string, { Type: string; Next?: string; End?: boolean }> };

/**
 * Where a killed run continues, as a redrive does: the state that never finished, with the
 * input it was given; or, when the process died between two states, the next one with the
 * output of the last. A Choice is entered again (it only reads its input).
 */
export function restartPoint(record: ExecutionRecord): { startAt: string; input: unknown } {
  const states = stateEvents(record.events);
  const last = states.at(-1);
  if (!last) throw new Error(`${record.name} never entered a state: start a new rotation instead`);
  if (last.kind === 'entered') return { startAt: last.name, input: last.data };
  const definition = parse(record.definition) as Definition | undefined;
  const state = definition?.States[last.name];
  if (state?.Next && state.Type !== 'Choice') return { startAt: state.Next, input: last.data };
  const entered = states.findLast((e) => e.kind === 'entered' && e.name === last.name);
  return { startAt: last.name, input: entered?.data };
}

/**
 * The workflow state as the Roll Back state would have been given it: the latest state the
 * history holds, with the created key's id from Create Access Key's result when the process
 * died before that state exited, and the failure that sends it to the rollback.
 */
export function rollbackStateOf(record: ExecutionRecord, failure: { Error: string; Cause: string }): RollbackState {
  const states = stateEvents(record.events);
  const latest = states.findLast((e) => e.data && typeof e.data === 'object' && 'detection' in e.data);
  const state = { ...((latest?.data ?? {}) as Record<string, unknown>) };
  if (!state.created) {
    const createdAt = record.events.findLastIndex(
      (e) => (e.stateEnteredEventDetails as { name?: string } | undefined)?.name === 'Create Access Key',
    );
    const result = record.events
      .slice(createdAt + 1)
      .find((e) => e.type === 'LambdaFunctionSucceeded' || e.type === 'TaskSucceeded');
    const details = (result?.lambdaFunctionSucceededEventDetails ?? result?.taskSucceededEventDetails) as
      { output?: string } | undefined;
    if (createdAt >= 0 && details) state.created = parse(details.output);
  }
  const parsed = RollbackState.safeParse({ ...state, failure });
  if (!parsed.success) {
    throw new Error(`${record.name}'s history does not hold the state a rollback needs (user, keys, secret)`);
  }
  return parsed.data;
}

/** Run the Roll Back state's own domain function here, on the state rebuilt from the history. */
export async function rollBackFromHistory(
  record: ExecutionRecord,
  failure: { Error: string; Cause: string },
): Promise<RollbackResult> {
  const state = rollbackStateOf(record, failure);
  // The calls are the roll-back handler's: the call ledger holds them against its role.
  return asHandler('roll-back', async () => rollback(await clientsFor(state.account), settings(), state));
}

/**
 * Close the record of a run whose process died, as Step Functions closes an execution: a
 * terminal event after the last one recorded, and `incomplete` saying what the history lacks.
 */
export function closeDeadRun(
  record: StoredExecution,
  ending: { type: 'ExecutionAborted' | 'ExecutionFailed'; error: string; cause: string; by: string },
): StoredExecution {
  const last = record.events.at(-1);
  const at = new Date().toISOString();
  const where = lastState(record) ?? 'the start';
  const incomplete =
    `process ${record.pid ?? '?'} died during ${where} after event ${last?.id ?? 0} (${last?.type ?? 'none'}); ` +
    `what it did after that is not in the history; closed by ${ending.by} at ${at}`;
  const details = { error: ending.error, cause: `${ending.cause} (${incomplete})` };
  return {
    ...record,
    status: ending.type === 'ExecutionAborted' ? 'ABORTED' : 'FAILED',
    stopDate: at,
    pid: undefined,
    incomplete,
    events: [
      ...record.events,
      {
        id: (last?.id ?? 0) + 1,
        previousEventId: last?.id ?? 0,
        timestamp: at,
        type: ending.type,
        [ending.type === 'ExecutionAborted' ? 'executionAbortedEventDetails' : 'executionFailedEventDetails']: details,
      },
    ],
  };
}

/**
 * What follows a local run's end, as the archiver does it for deployed executions: write its
 * record to the evidence archive (when one is configured), and close the approvals it left
 * waiting. Returns where the record went, or undefined without an archive.
 */
export async function archiveLocal(
  record: StoredExecution | ExecutionRecord,
): Promise<{ address: string; seq: number } | undefined> {
  const archive = archiveSettings();
  const { pid: _pid, output: _output, error: _error, cause: _cause, ...kept } = record as StoredExecution;
  return asHandler('archive-execution', async () => {
    // As the archiver does: close what the run left waiting, archive with its failed sign-ins.
    const written = await archiveEnded(clients, archive, settings(), kept, endingOf(record));
    if (!archive || !written) return undefined;
    return { address: `s3://${archive.bucket}/${written.recordKey}`, seq: written.entry.seq };
  });
}
