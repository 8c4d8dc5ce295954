import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import type { LocalExecution } from './engine';

const home = () => process.env.KEYROT_HOME ?? path.join(process.cwd(), '.keyrot');

/** Where local runs keep their history: `$KEYROT_HOME` or `.keyrot/` in the working directory. */
export function storeDir(): string {
  return path.join(home(), 'executions');
}

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

/**
 * Save a local execution: `<name>.json` holds DescribeExecution's fields plus `events` in
 * GetExecutionHistory's format; `<name>.log.jsonl` holds the handlers' log lines.
 */
export function saveExecution(execution: LocalExecution): { history: string; log: string } {
  const dir = storeDir();
  mkdirSync(dir, { recursive: true });
  const { logs, ...record } = execution;
  const history = path.join(dir, `${execution.name}.json`);
  const log = path.join(dir, `${execution.name}.log.jsonl`);
  writeFileSync(history, `${JSON.stringify(record, null, 2)}\n`);
  writeFileSync(log, logs.length > 0 ? `${logs.join('\n')}\n` : '');
  return { history, log };
}

/** Load a saved local execution by name. */
export function loadExecution(name: string): Omit<LocalExecution, 'logs'> {
  return JSON.parse(readFileSync(path.join(storeDir(), `${name}.json`), 'utf8'));
}
