/** Whose credentials a client signs with: the function's role, a member account's role, or a user's key. */
export type ClientIdentity = { kind: 'role' } | { kind: 'member'; account: string } | { kind: 'key' };

/** An SDK client as a hook sees it: its middleware stack and its region. */
export interface HookedClient {
  middlewareStack: { add: (middleware: never, options: { step: 'initialize'; name: string }) => void };
  config: { region: () => Promise<string> };
}

type ClientHook = (client: HookedClient, identity: ClientIdentity) => void;
const hooks: ClientHook[] = [];
const made: [HookedClient, ClientIdentity][] = [];

/** Attempts per call of the shared clients; the state machine's Retry owns the longer backoff. */
export const MAX_ATTEMPTS = 4;

/**
 * Run `hook` on every client keyrot makes, those made already and those made later
 * (member and key clients): how local mode records its call ledger without touching a handler.
 */
export function onEveryClient(hook: ClientHook): void {
  hooks.push(hook);
  for (const [client, identity] of made) hook(client, identity);
}

/** Register a client with the hooks; the shared ones are remembered for hooks added later. */
export function hooked<T>(client: T, identity: ClientIdentity = { kind: 'role' }, remember = false): T {
  const seen = client as unknown as HookedClient;
  if (remember) made.push([seen, identity]);
  for (const hook of hooks) hook(seen, identity);
  return client;
}

/** A client of this function's own role, created once per container and shared. */
export const roleClient = <T>(client: T): T => hooked(client, { kind: 'role' }, true);
