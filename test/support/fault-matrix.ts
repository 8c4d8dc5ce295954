import type { Clients } from '../../handlers/shared/clients';
import type { LocalHandlerName } from '../../local/definition';

/** One AWS call a handler makes: the n-th call of a command within one invocation. */
export interface CallPoint {
  handler: LocalHandlerName;
  command: string;
  occurrence: number;
}

/** Where and how a fault strikes. */
export interface Fault extends CallPoint {
  /** `before`: the call never reaches AWS. `after`: AWS did it, then the Lambda died. */
  when: 'before' | 'after';
  /** `once`: the retry goes through. `always`: every invocation dies there, retries run out. */
  mode: 'once' | 'always';
}

type Next = (args: unknown) => Promise<{ output: unknown }>;
interface Stackful {
  middlewareStack: { add: (middleware: never, options: { step: 'initialize'; name: string }) => void };
}

/**
 * Watches every AWS call the handlers make, attributing it to the handler invocation it
 * happens in, and kills that invocation at one chosen call point, as a Lambda dying there
 * would (`Lambda.Unknown`, which the workflow retries).
 */
export class CallPoints {
  /** The handler running now and how many calls of each command it has made in this invocation. */
  private current: { handler: LocalHandlerName; counts: Map<string, number> } | undefined;
  private fault: (Fault & { fired: number }) | undefined;
  readonly seen: CallPoint[] = [];

  constructor(clients: Clients) {
    for (const client of [
      clients.iam,
      clients.secrets,
      clients.sns,
      clients.ddb,
      clients.sts,
      clients.s3,
      clients.sfn,
    ] as unknown as Stackful[]) {
      this.watch(client);
    }
    const stsFor = clients.stsFor;
    clients.stsFor = (credentials) => {
      const sts = stsFor(credentials);
      this.watch(sts as unknown as Stackful);
      return sts;
    };
  }

  /** Wrap a handler invocation (the local engine's `around`). */
  around = async (handler: LocalHandlerName, invoke: () => Promise<unknown>): Promise<unknown> => {
    this.current = { handler, counts: new Map() };
    try {
      return await invoke();
    } finally {
      this.current = undefined;
    }
  };

  arm(fault: Fault | undefined): void {
    this.fault = fault && { ...fault, fired: 0 };
    this.seen.length = 0;
  }

  /** How many times the armed fault struck. */
  get fired(): number {
    return this.fault?.fired ?? 0;
  }

  private watch(client: Stackful): void {
    const middleware = (next: Next, context: { commandName?: string }) => async (args: unknown) => {
      const running = this.current;
      const command = (context.commandName ?? '?').replace(/Command$/, '');
      if (!running) return next(args);
      const occurrence = (running.counts.get(command) ?? 0) + 1;
      running.counts.set(command, occurrence);
      this.seen.push({ handler: running.handler, command, occurrence });
      const fault = this.fault;
      const hit =
        fault !== undefined &&
        fault.handler === running.handler &&
        fault.command === command &&
        fault.occurrence === occurrence &&
        (fault.mode === 'always' || fault.fired === 0);
      const die = () => {
        fault!.fired += 1;
        throw Object.assign(new Error(`the Lambda died ${fault!.when} ${command} #${occurrence}`), {
          name: 'Lambda.Unknown',
        });
      };
      if (hit && fault.when === 'before') die();
      const result = await next(args);
      if (hit && fault.when === 'after') die();
      return result;
    };
    client.middlewareStack.add(middleware as never, { step: 'initialize', name: 'keyrot-call-points' });
  }
}

/** The distinct call points of a run, in the order they first happened. */
export function distinct(points: CallPoint[]): CallPoint[] {
  const seen = new Set<string>();
  return points.filter((point) => {
    const key = `${point.handler} ${point.command} ${point.occurrence}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}
