import type { RotateResult } from './rotate';

/** Where the CLI writes: progress for people on stderr, results on stdout (JSON alone with --json). */
export interface Output {
  progress(line: string): void;
  /** Something a person must act on (an approval link): on stderr even with --json. */
  notice(line: string): void;
  step(elapsedMs: number, state: string): void;
  result(result: RotateResult): void;
  error(message: string): void;
}

/** The terminal output of a command; `json` keeps stdout to one JSON document. */
export function terminalOutput(json: boolean): Output {
  const seconds = (ms: number) => `+${(ms / 1000).toFixed(2)}s`.padStart(9);
  return {
    progress: (line) => {
      if (!json) process.stderr.write(`${line}\n`);
    },
    notice: (line) => process.stderr.write(`${line}\n`),
    step: (elapsedMs, state) => {
      if (!json) process.stderr.write(`${seconds(elapsedMs)}  ${state}\n`);
    },
    result: (result) => {
      if (json) {
        process.stdout.write(`${JSON.stringify(result)}\n`);
        return;
      }
      const keys = result.newKeyId ? `${result.oldKeyId} -> ${result.newKeyId}` : (result.oldKeyId ?? 'no key');
      process.stdout.write(`${result.outcome}  ${result.user}: ${keys}\n`);
      if (result.reason) process.stdout.write(`  reason:  ${result.reason}\n`);
      process.stdout.write(
        `  took:    ${(result.durationMs / 1000).toFixed(2)} s, ${result.stateTransitions} states entered\n`,
      );
      process.stdout.write(`  execution: ${result.executionId}\n`);
      if (result.history) process.stdout.write(`  history: ${result.history}\n`);
    },
    error: (message) => process.stderr.write(`keyrot: ${message}\n`),
  };
}
