import { Logger } from '@aws-lambda-powertools/logger';
import type { LogItem } from '@aws-lambda-powertools/logger';

type Sink = (line: string) => void;

/**
 * Powertools logger whose lines can be routed to a sink. In Lambda the sink is unset and
 * lines go to stdout as usual; the local engine routes them to the run's log file so that
 * `--json` output stays clean and the leak test can read every line that was written.
 */
class KeyrotLogger extends Logger {
  #sink: Sink | undefined;

  /** Route every printed line to `sink` (or back to stdout with `undefined`). */
  routeTo(sink: Sink | undefined): void {
    this.#sink = sink;
  }

  protected override printLog(logLevel: number, log: LogItem): void {
    if (!this.#sink) {
      super.printLog(logLevel, log);
      return;
    }
    log.prepareForPrint();
    this.#sink(JSON.stringify(log.getAttributes(), errorsAsObjects));
  }
}

function errorsAsObjects(_key: string, value: unknown): unknown {
  if (value instanceof Error) return { name: value.name, message: value.message };
  return value;
}

export const logger = new KeyrotLogger({ serviceName: 'keyrot' });
