import {
  appendFileSync,
  existsSync,
  linkSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import * as path from 'node:path';
import type { ExecutionRecord } from '../handlers/domain/execution-record';
import type { LocalExecution } from './engine';

const home = () => process.env.KEYROT_HOME ?? path.join(process.cwd(), '.keyrot');

/** A local execution as stored: the record, plus the process running it while it runs. */
export type StoredExecution = ExecutionRecord & { pid?: number; output?: unknown; error?: string; cause?: string };

/** Where local runs keep their history: `$KEYROT_HOME` or `.keyrot/` in the working directory. */
export function storeDir(): string {
  return path.join(home(), 'executions');
}

const file = (name: string, suffix = '.json') => path.join(storeDir(), `${name}${suffix}`);

/** Tell other keyrot commands (`keyrot approve`) where the running local approval server is. */
export function writeServerInfo(url: string): void {
  mkdirSync(home(), { recursive: true });
  writeFileSync(path.join(home(), 'approval-server.json'), `${JSON.stringify({ url, pid: process.pid })}\n`);
}

/** The URL of the local approval server last started, if any. */
export function readServerInfo(): string | undefined {
  try {
    return (JSON.parse(readFileSync(path.join(home(), 'approval-server.json'), 'utf8')) as { url?: string }).url;
  } catch {
    return undefined;
  }
}

/** Append a log line written outside any execution (approval server, archiver) to `keyrot.log.jsonl`. */
export function appendLog(line: string): void {
  mkdirSync(home(), { recursive: true });
  appendFileSync(path.join(home(), 'keyrot.log.jsonl'), `${line}\n`);
}

/** Whether a process still runs (a local execution whose process died is not running). */
export function processAlive(pid: number | undefined): boolean {
  if (!pid) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Write through a temporary file and a rename, so a reader never sees half a record. */
function writeAtomically(target: string, text: string): void {
  const temporary = `${target}.${process.pid}.tmp`;
  writeFileSync(temporary, text);
  renameSync(temporary, target);
}

/**
 * Take an execution name for a run in this process: the record file is created exclusively,
 * so of two processes starting the same name at once exactly one gets it.
 */
export function claimExecution(record: ExecutionRecord): boolean {
  mkdirSync(storeDir(), { recursive: true });
  // Written whole first, then linked into place (link refuses an existing name): a process
  // that loses the race never reads a half-written record.
  const temporary = `${file(record.name)}.${process.pid}.claim`;
  writeFileSync(temporary, `${JSON.stringify({ ...record, pid: process.pid }, null, 2)}\n`);
  try {
    linkSync(temporary, file(record.name));
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw error;
  } finally {
    rmSync(temporary, { force: true });
  }
}

/** Replace a running execution's record with the history so far. */
export function updateRunning(record: ExecutionRecord): void {
  writeAtomically(file(record.name), `${JSON.stringify({ ...record, pid: process.pid }, null, 2)}\n`);
}

/**
 * Save a finished local execution: `<name>.json` holds DescribeExecution's fields plus `events`
 * in GetExecutionHistory's format; `<name>.log.jsonl` holds the handlers' log lines.
 */
export function saveExecution(execution: LocalExecution): { history: string; log: string } {
  mkdirSync(storeDir(), { recursive: true });
  const { logs, ...record } = execution;
  const history = file(execution.name);
  const log = file(execution.name, '.log.jsonl');
  writeAtomically(history, `${JSON.stringify(record, null, 2)}\n`);
  writeFileSync(log, logs.length > 0 ? `${logs.join('\n')}\n` : '');
  return { history, log };
}

/** Replace a stored record as it is (closing a run whose process died). */
export function saveRecord(record: StoredExecution): void {
  writeAtomically(file(record.name), `${JSON.stringify(record, null, 2)}\n`);
}

/** A local execution by name, or undefined. */
export function findExecution(name: string): StoredExecution | undefined {
  try {
    return JSON.parse(readFileSync(file(name), 'utf8')) as StoredExecution;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new Error(`${file(name)} is not a readable execution record: ${(error as Error).message}`);
  }
}

/** Every local execution, newest first. */
export function listStored(): StoredExecution[] {
  if (!existsSync(storeDir())) return [];
  return readdirSync(storeDir())
    .filter((entry) => entry.endsWith('.json') && !entry.endsWith('.abort.json'))
    .map((entry) => findExecution(entry.slice(0, -'.json'.length)))
    .filter((record): record is StoredExecution => Boolean(record?.executionArn))
    .sort((a, b) => b.startDate.localeCompare(a.startDate));
}

/** Ask the process running a local execution to stop it, as StopExecution asks Step Functions. */
export function requestAbort(name: string, details: { error: string; cause: string }): void {
  writeAtomically(file(name, '.abort.json'), `${JSON.stringify(details)}\n`);
}

/** The pending abort request for an execution, taken (removed) so it acts once. */
export function takeAbortRequest(name: string): { error: string; cause: string } | undefined {
  const request = file(name, '.abort.json');
  if (!existsSync(request)) return undefined;
  const details = JSON.parse(readFileSync(request, 'utf8')) as { error: string; cause: string };
  rmSync(request, { force: true });
  return details;
}
