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
import { redactedText } from '../handlers/domain/requester';
import type { LocalExecution } from './engine';

const home = () => process.env.KEYROT_HOME ?? path.join(process.cwd(), '.keyrot');

/** A local execution as stored: the record, plus the process running it while it runs. */
export type StoredExecution = ExecutionRecord & {
  pid?: number;
  output?: unknown;
  error?: string;
  cause?: string;
  /** Set when the process running it died: what the history lacks (kept in the archive too). */
  incomplete?: string;
  /** What `keyrot abort` did after closing it: the rollback's outcome and actions. */
  closedBy?: { command: string; by: string; at: string; outcome?: string; cause?: string; actions?: string[] };
};

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
  writeAtomically(file(record.name), `${redactedText(JSON.stringify({ ...record, pid: process.pid }, null, 2))}\n`);
}

/** Whether a record says RUNNING although the process that ran it is dead (killed, crashed). */
export function processGone(record: StoredExecution): boolean {
  return record.status === 'RUNNING' && !processAlive(record.pid);
}

/**
 * Take over a local run whose process died (abort or resume closing it): a lock file created
 * exclusively, so of two commands recovering one run at once exactly one acts. A lock left by
 * a recovery that died too is taken over. Returns a release function, or undefined when
 * another live process holds it.
 */
export function takeOver(name: string): (() => void) | undefined {
  mkdirSync(storeDir(), { recursive: true });
  const lock = file(name, '.recover');
  for (let round = 0; round < 2; round += 1) {
    try {
      writeFileSync(lock, `${process.pid}\n`, { flag: 'wx' });
      return () => rmSync(lock, { force: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const holder = Number(readFileSync(lock, 'utf8').trim());
      if (processAlive(holder)) return undefined;
      rmSync(lock, { force: true });
    }
  }
  return undefined;
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
  writeAtomically(history, `${redactedText(JSON.stringify(record, null, 2))}\n`);
  writeFileSync(log, logs.length > 0 ? `${logs.join('\n')}\n` : '');
  return { history, log };
}

/** Replace a stored record as it is (closing a run whose process died). */
export function saveRecord(record: StoredExecution): void {
  writeAtomically(file(record.name), `${redactedText(JSON.stringify(record, null, 2))}\n`);
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

/**
 * StopExecution's error and cause; `rollback` says the aborting command rolls back and
 * archives afterwards, so the running process leaves the archiving to it.
 */
export interface AbortRequest {
  error: string;
  cause: string;
  rollback?: boolean;
}

/** Ask the process running a local execution to stop it, as StopExecution asks Step Functions. */
export function requestAbort(name: string, details: AbortRequest): void {
  writeAtomically(file(name, '.abort.json'), `${JSON.stringify(details)}\n`);
}

/** The pending abort request for an execution, taken (removed) so it acts once. */
export function takeAbortRequest(name: string): AbortRequest | undefined {
  const request = file(name, '.abort.json');
  if (!existsSync(request)) return undefined;
  const details = JSON.parse(readFileSync(request, 'utf8')) as AbortRequest;
  rmSync(request, { force: true });
  return details;
}
