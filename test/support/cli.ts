import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import type { LocalAws } from './local-aws';

const BIN = path.resolve(import.meta.dirname, '../../bin/keyrot.js');

/** What a `keyrot` subprocess ended with. */
export type Finished = { code: number | null; stdout: string; stderr: string };

/**
 * A running `keyrot` subprocess: await it for the result; `stop()` ends it early, as Ctrl-C
 * would; `stderr()` is what it has written there so far.
 */
export type Running = Promise<Finished> & { stop: () => void; stderr: () => string };

/**
 * The `keyrot` command run as an operator would, in a subprocess, for one test file: its own
 * KEYROT_HOME (local runs, claims, the approval server's address), so files run side by side
 * without seeing each other's rotations. `aws` is read when a helper needs moto, after the
 * file's `before` started it.
 */
export function cliSession(aws: () => LocalAws) {
  const home = mkdtempSync(path.join(tmpdir(), 'keyrot-cli-'));

  /** What the last started command has written so far. */
  const live = { stderr: '' };

  /** Poll (bounded) until `probe` returns a value. */
  async function waitFor<T>(probe: () => T | undefined | Promise<T | undefined>, timeoutMs = 300_000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const value = await probe();
      if (value !== undefined) return value;
      if (Date.now() > deadline) throw new Error(`timed out waiting; the command wrote: ${live.stderr}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  /**
   * Run the keyrot command as an operator would, with a bounded time; a last object arg adds
   * env (undefined removes a variable). `stop()` ends it early, as Ctrl-C would.
   */
  function keyrot(...args: (string | Record<string, string | undefined>)[]): Running {
    const extra = typeof args.at(-1) === 'object' ? (args.pop() as Record<string, string | undefined>) : {};
    // An undefined value leaves that variable out of the command's environment.
    const env = Object.fromEntries(
      Object.entries({ ...process.env, KEYROT_HOME: home, ...extra }).filter(([, value]) => value !== undefined),
    );
    let stop = () => {};
    let written = '';
    const finished = new Promise<Finished>((resolve, reject) => {
      const child = spawn(process.execPath, [BIN, ...(args as string[])], {
        env,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      live.stderr = '';
      child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
      child.stderr.on('data', (chunk: Buffer) => {
        stderr += chunk.toString();
        live.stderr = stderr;
        written = stderr;
      });
      stop = () => child.kill('SIGINT');
      const timer = setTimeout(() => child.kill('SIGKILL'), 600_000);
      child.on('error', reject);
      child.on('close', (code) => {
        clearTimeout(timer);
        resolve({ code, stdout, stderr });
      });
    });
    return Object.assign(finished, { stop: () => stop(), stderr: () => written });
  }

  /** A `keyrot rotate --local --json` of a fresh user, once it waits at the deletion gate with its link printed. */
  async function rotationAtDeletionGate(user: string) {
    await aws().seedUser(user);
    const rotation = keyrot('rotate', user, '--local', '--force', '--validation', 'none', '--skip-waits', '--json');
    const link = await waitFor(() => /open (http:\/\/127\.0\.0\.1:\d+\/approvals\/\S+)/.exec(live.stderr)?.[1]);
    return { rotation, link };
  }

  /** The local execution of a user that is running now, from `keyrot list`. */
  async function runningExecution(user: string): Promise<string> {
    return waitFor(async () => {
      const listed = await keyrot('list', '--local', '--status', 'RUNNING', '--user', user, '--json');
      return (JSON.parse(listed.stdout || '[]') as { name: string }[])[0]?.name;
    });
  }

  return { home, live, waitFor, keyrot, rotationAtDeletionGate, runningExecution };
}
