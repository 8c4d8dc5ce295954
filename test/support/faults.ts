import assert from 'node:assert/strict';

/**
 * Fault injection through the SDK's middleware stack: the handler's code runs unchanged and
 * meets the fault exactly where a real one would happen.
 */
interface Stackful {
  middlewareStack: {
    add: (middleware: never, options: { step: 'initialize'; name: string }) => void;
    remove: (name: string) => boolean;
  };
}

type Next = (args: unknown) => Promise<{ output: unknown }>;

export interface Fault {
  /** The command class name, e.g. `CreateAccessKeyCommand`. */
  command: string;
  /** `before`: the call never reaches AWS. `after`: AWS did it, then the Lambda died. */
  when: 'before' | 'after';
  /** The error name the state machine sees (a died Lambda surfaces as `Lambda.Unknown`). */
  error: string;
  times?: number;
}

let counter = 0;

/** Arm a fault on a client; returns a function that disarms it. */
export function injectFault(client: Stackful, fault: Fault): () => void {
  const name = `keyrot-fault-${(counter += 1)}`;
  let left = fault.times ?? 1;
  const fail = () => {
    left -= 1;
    const error = new Error(`injected ${fault.when} ${fault.command}`);
    error.name = fault.error;
    throw error;
  };
  const middleware = (next: Next, context: { commandName?: string }) => async (args: unknown) => {
    const hit = context.commandName === fault.command && left > 0;
    if (hit && fault.when === 'before') fail();
    const result = await next(args);
    if (hit && fault.when === 'after') fail();
    return result;
  };
  client.middlewareStack.add(middleware as never, { step: 'initialize', name });
  return () => void client.middlewareStack.remove(name);
}

/** Collect the secret access key of every CreateAccessKey made through `iam`, to search for later. */
export function recordSecrets(iam: Stackful, secrets: string[]): void {
  const middleware = (next: Next, context: { commandName?: string }) => async (args: unknown) => {
    const result = await next(args);
    const key = (result.output as { AccessKey?: { SecretAccessKey?: string } }).AccessKey;
    if (context.commandName === 'CreateAccessKeyCommand' && key?.SecretAccessKey) secrets.push(key.SecretAccessKey);
    return result;
  };
  iam.middlewareStack.add(middleware as never, { step: 'initialize', name: `keyrot-record-${(counter += 1)}` });
}

/** Fail if any of the secrets appears in `emitted`; at least `minimum` must have been collected. */
export function assertNoSecretIn(emitted: string, secrets: string[], minimum: number): void {
  assert.ok(secrets.length >= minimum, `${secrets.length} secrets to look for, expected at least ${minimum}`);
  for (const secret of secrets) assert.equal(emitted.includes(secret), false, 'a secret access key leaked');
}
