import {
  DescribeExecutionCommand,
  ExecutionDoesNotExist,
  ListExecutionsCommand,
  SFNClient,
  StopExecutionCommand,
  type ExecutionStatus,
} from '@aws-sdk/client-sfn';
import { findArchivedRecord } from '../handlers/domain/archive';
import { readExecution, userOf, type ExecutionRecord } from '../handlers/domain/execution-record';
import { summarize } from '../handlers/domain/outcome';
import { executionName } from '../handlers/domain/start-rotation';
import { clients } from '../handlers/shared/clients';
import { EXIT_CODES } from './outcome';
import { closeDeadRun } from './local-runs';
import { findExecution, listStored, processAlive, processGone, requestAbort, saveRecord } from '../local/store';

/** The status a local run shows whose process died while it ran (its record still says RUNNING). */
export const PROCESS_GONE = 'PROCESS_GONE';

/** One execution in a listing. */
export interface ExecutionSummary {
  executionArn: string;
  name: string;
  user: string | null;
  status: string;
  startDate: string;
  stopDate: string | null;
  outcome: string;
  reason: string | null;
}

export interface ListFilter {
  user?: string;
  status?: string;
  since?: Date;
  limit: number;
}

/** An operator's error: printed without a stack trace, with its own exit code. */
export class CommandError extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super(message);
  }
}

/** Where executions are: the deployed state machine, or this machine's local runs. */
export interface ExecutionSource {
  readonly kind: 'api' | 'local';
  list(filter: ListFilter): Promise<ExecutionSummary[]>;
  /** The full record: description, definition and every history event. */
  read(id: string, onPage?: (events: number) => void): Promise<ExecutionRecord>;
  /** Stop a running execution, recording who and why (StopExecution's error and cause). */
  abort(id: string, details: { error: string; cause: string; rollback?: boolean }): Promise<ExecutionSummary>;
  /** The user's running execution, if any: one rotation per user at a time. */
  running(user: string): Promise<ExecutionSummary | undefined>;
}

function summaryOf(record: ExecutionRecord): ExecutionSummary {
  const outcome = summarize(record.events);
  return {
    executionArn: record.executionArn,
    name: record.name,
    user: userOf(record) ?? null,
    status: record.status,
    startDate: record.startDate,
    stopDate: record.stopDate ?? null,
    outcome: outcome.outcome,
    reason: outcome.reason,
  };
}

const matches = (summary: ExecutionSummary, filter: ListFilter) =>
  (!filter.user || summary.user === filter.user) &&
  (!filter.status || summary.status === filter.status) &&
  (!filter.since || Date.parse(summary.startDate) >= filter.since.getTime());

/** The executions this machine ran with `keyrot rotate --local` (KEYROT_HOME). */
export function localSource(): ExecutionSource {
  const load = (id: string) => {
    const name = id.startsWith('arn:') ? (id.split(':').at(-1) ?? id) : id;
    const record = findExecution(name);
    if (!record)
      throw new CommandError(`no local execution named ${name} (see keyrot list --local)`, EXIT_CODES.NOT_FOUND);
    return record;
  };
  // A record left RUNNING by a process that died is not running: say so instead of pretending.
  // Its status reads PROCESS_GONE (no Step Functions status, on purpose): the audit then finds
  // a history that neither runs nor ends, and says it is incomplete.
  const seen = (record: ReturnType<typeof load>): ReturnType<typeof load> =>
    processGone(record) ? { ...record, status: PROCESS_GONE } : record;
  const live = (record: ReturnType<typeof load>): ExecutionSummary => {
    const summary = summaryOf(seen(record));
    if (!processGone(record)) return summary;
    return {
      ...summary,
      reason:
        `process gone: ${record.pid ?? 'its process'} died, the history is incomplete; ` +
        `recover with keyrot resume ${record.name} or keyrot abort ${record.name} --local --reason <text>`,
    };
  };
  return {
    kind: 'local',
    list: async (filter) =>
      listStored()
        .map(live)
        .filter((summary) => matches(summary, filter))
        .slice(0, filter.limit),
    read: async (id) => seen(load(id)),
    // A run whose process died still holds the user: it must be resumed or aborted first.
    running: async (user) =>
      listStored()
        .map(live)
        .find((s) => s.user === user && (s.status === 'RUNNING' || s.status === PROCESS_GONE)),
    abort: async (id, details) => {
      const record = load(id);
      if (record.status !== 'RUNNING') {
        throw new CommandError(`${record.name} is not running (${record.status})`, EXIT_CODES.CONFLICT);
      }
      if (processAlive(record.pid)) {
        requestAbort(record.name, details);
        // The running process polls for the request; wait (bounded) for it to record the abort.
        for (let waited = 0; waited < 15_000; waited += 250) {
          await new Promise((resolve) => setTimeout(resolve, 250));
          const now = load(id);
          if (now.status !== 'RUNNING') return summaryOf(now);
        }
        throw new CommandError(`asked process ${record.pid} to abort ${record.name}, but it did not answer in 15 s`, 1);
      }
      // Nobody runs it any more: close the record the way Step Functions would, saying what
      // the history lacks.
      const closed = closeDeadRun(record, { type: 'ExecutionAborted', ...details, by: 'keyrot abort' });
      saveRecord(closed);
      return summaryOf(closed);
    },
  };
}

/** The deployed rotation state machine, through the Step Functions API. */
export function apiSource(stateMachineArn: string | undefined, sfn: SFNClient = clients.sfn): ExecutionSource {
  const machine = () => {
    if (!stateMachineArn) {
      throw new CommandError(
        'no state machine: pass --state-machine-arn, set KEYROT_STATE_MACHINE_ARN, or use --local',
        2,
      );
    }
    return stateMachineArn;
  };
  const arnOf = (id: string) =>
    id.startsWith('arn:') ? id : `${machine().replace(':stateMachine:', ':execution:')}:${id}`;
  const describe = async (executionArn: string): Promise<ExecutionSummary> => {
    const described = await sfn.send(new DescribeExecutionCommand({ executionArn }));
    const input = JSON.parse(described.input ?? '{}') as { userName?: string };
    const output = JSON.parse(described.output ?? '{}') as { outcome?: string; reason?: string };
    const failed = described.status === 'FAILED';
    return {
      executionArn,
      name: described.name ?? '',
      user: userOf({ input }) ?? null,
      status: described.status ?? 'UNKNOWN',
      startDate: described.startDate?.toISOString() ?? '',
      stopDate: described.stopDate?.toISOString() ?? null,
      outcome: failed ? (described.error ?? 'FAILED') : (output.outcome ?? described.status ?? 'UNKNOWN'),
      reason: failed ? (described.cause ?? null) : (output.reason ?? null),
    };
  };
  const list = async (filter: ListFilter): Promise<ExecutionSummary[]> => {
    const found: ExecutionSummary[] = [];
    // Names start with the escaped user, so only those are described.
    const prefix = filter.user ? executionName(filter.user, new Date()).replace(/-\d{8}$/, '-') : '';
    let nextToken: string | undefined;
    do {
      const page = await sfn.send(
        new ListExecutionsCommand({
          stateMachineArn: machine(),
          statusFilter: filter.status as ExecutionStatus | undefined,
          nextToken,
          maxResults: 100,
        }),
      );
      for (const item of page.executions ?? []) {
        if (filter.since && (item.startDate?.getTime() ?? 0) < filter.since.getTime()) return found;
        if (!item.name?.startsWith(prefix) || !item.executionArn) continue;
        const summary = await describe(item.executionArn);
        if (matches(summary, filter)) found.push(summary);
        if (found.length >= filter.limit) return found;
      }
      nextToken = page.nextToken;
    } while (nextToken);
    return found;
  };
  return {
    kind: 'api',
    list,
    read: async (id, onPage) => {
      try {
        return await readExecution(sfn, arnOf(id), onPage);
      } catch (error) {
        if (error instanceof ExecutionDoesNotExist)
          throw new CommandError(`no execution ${arnOf(id)}`, EXIT_CODES.NOT_FOUND);
        throw error;
      }
    },
    running: async (user) => (await list({ user, status: 'RUNNING', limit: 1 }))[0],
    abort: async (id, details) => {
      const executionArn = arnOf(id);
      const before = await describe(executionArn);
      if (before.status !== 'RUNNING') {
        throw new CommandError(`${before.name} is not running (${before.status})`, EXIT_CODES.CONFLICT);
      }
      await sfn.send(new StopExecutionCommand({ executionArn, error: details.error, cause: details.cause }));
      return describe(executionArn);
    },
  };
}

/**
 * An execution from the evidence archive: what remains after Step Functions' 90 days.
 * Needs the bucket (--bucket or KEYROT_ARCHIVE_BUCKET) and the execution's full ARN.
 */
export async function readArchived(bucket: string | undefined, executionArn: string): Promise<ExecutionRecord> {
  if (!bucket) throw new CommandError('no archive bucket: pass --bucket or set KEYROT_ARCHIVE_BUCKET', 2);
  if (!executionArn.startsWith('arn:')) {
    throw new CommandError('reading from the archive needs the full execution ARN', 2);
  }
  const record = await findArchivedRecord(clients, bucket, executionArn);
  if (!record) throw new CommandError(`${executionArn} is not in the archive s3://${bucket}`, EXIT_CODES.NOT_FOUND);
  return record;
}
