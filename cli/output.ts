import { jsonText, printable } from '../handlers/shared/printable';
import type { RotateResult } from './rotate';

/** Where the CLI writes: progress for people on stderr, results on stdout (JSON alone with --json). */
export interface Output {
  progress(line: string): void;
  /** Something a person must act on (an approval link): on stderr even with --json. */
  notice(line: string): void;
  /** The execution entered a state; progress shows it with the time since the start. */
  step(elapsedMs: number, state: string): void;
  result(result: RotateResult): void;
  error(message: string): void;
}

const clock = (ms: number) => {
  const seconds = Math.floor(ms / 1000);
  return seconds < 60 ? `${seconds}s` : `${Math.floor(seconds / 60)}m${String(seconds % 60).padStart(2, '0')}s`;
};

/**
 * The terminal output of a command; `json` keeps stdout to one JSON document. While a step
 * lasts, a terminal shows a live line with the step and its elapsed time; without a terminal
 * (CI, logs) a line every minute says the execution is still there.
 */
export function terminalOutput(json: boolean, stream: NodeJS.WriteStream = process.stderr): Output {
  const seconds = (ms: number) => `+${(ms / 1000).toFixed(2)}s`.padStart(9);
  let current: { state: string; since: number; reported: number } | undefined;
  let live = false;
  const clear = () => {
    if (live) stream.write('\r\x1b[2K');
    live = false;
  };
  const write = (line: string) => {
    clear();
    stream.write(`${line}\n`);
  };
  const ticker = setInterval(() => {
    if (!current || json) return;
    const waited = Date.now() - current.since;
    if (stream.isTTY) {
      stream.write(`\r\x1b[2K         … ${current.state} (${clock(waited)})`);
      live = true;
    } else if (waited - current.reported >= 60_000) {
      current.reported = waited;
      write(`         still at ${current.state} after ${clock(waited)}`);
    }
  }, 1000);
  ticker.unref();
  const stop = () => {
    current = undefined;
    clear();
  };
  return {
    progress: (line) => {
      if (!json) write(line);
    },
    notice: write,
    step: (elapsedMs, state) => {
      current = { state, since: Date.now(), reported: 0 };
      if (!json) write(`${seconds(elapsedMs)}  ${state}`);
    },
    result: (result) => {
      stop();
      if (json) {
        process.stdout.write(`${jsonText(result)}\n`);
        return;
      }
      const keys = result.newKeyId ? `${result.oldKeyId} -> ${result.newKeyId}` : (result.oldKeyId ?? 'no key');
      process.stdout.write(`${result.outcome}  ${printable(result.user)}: ${keys}\n`);
      if (result.reason) process.stdout.write(`  reason:  ${printable(result.reason)}\n`);
      process.stdout.write(
        `  took:    ${(result.durationMs / 1000).toFixed(2)} s, ${result.stateTransitions} states entered\n`,
      );
      process.stdout.write(`  execution: ${result.executionId}\n`);
      if (result.history) process.stdout.write(`  history: ${result.history}\n`);
      if (result.archived) process.stdout.write(`  archived: ${result.archived}\n`);
    },
    error: (message) => {
      stop();
      stream.write(`keyrot: ${message}\n`);
    },
  };
}
