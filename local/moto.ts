import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import * as path from 'node:path';

const ROOT = path.resolve(import.meta.dirname, '..');
const VENV = path.join(ROOT, '.venv');
const MOTO_SERVER = path.join(VENV, 'bin', 'moto_server');
const PYTHON = path.join(VENV, 'bin', 'python');
/**
 * moto's own server entry, run in the venv's Python with a watchdog thread on stdin. The
 * parent holds the only write end of that pipe, so EOF means the parent is gone however it
 * died (SIGKILL and a test runner's timeout run no exit handler), and moto leaves with it.
 * The watchdog lives in moto's own process, so there is no wrapper that could die alone.
 * DynamoDB requests are served one at a time: moto's server is threaded and checks a
 * ConditionExpression and applies the update without a lock, so two concurrent conditional
 * writes could both pass; DynamoDB makes each item write atomic, and keyrot relies on it
 * (single-use decisions, sign-in attempt counts).
 */
const MOTO_WATCHED = [
  'import os, sys, threading',
  'def watch():',
  // os.read, not sys.stdin: a daemon thread holding stdin's buffer lock aborts Python's shutdown.
  '    while os.read(0, 4096): pass',
  '    os._exit(0)',
  'threading.Thread(target=watch, daemon=True).start()',
  'from moto.moto_server.werkzeug_app import DomainDispatcherApplication',
  'dynamodb = threading.Lock()',
  'dispatch = DomainDispatcherApplication.__call__',
  'def atomic(self, environ, start_response):',
  "    if not environ.get('HTTP_X_AMZ_TARGET', '').startswith('DynamoDB_'): return dispatch(self, environ, start_response)",
  '    with dynamodb: return dispatch(self, environ, start_response)',
  'DomainDispatcherApplication.__call__ = atomic',
  'from moto.server import main',
  'sys.exit(main(sys.argv[1:]))',
].join('\n');
/** The moto release the local AWS is checked against (DESIGN.md: 5.2.x). */
const MOTO_REQUIREMENT = 'moto[server]>=5.2,<5.3';

/** Install moto into the project's own venv once; later calls return at once. */
export function ensureMotoInstalled(progress: (line: string) => void = () => {}): string {
  if (existsSync(MOTO_SERVER)) return MOTO_SERVER;
  progress('installing moto into .venv (first run only)...');
  const steps: [string, string[]][] = [
    ['python3', ['-m', 'venv', VENV]],
    [path.join(VENV, 'bin', 'pip'), ['install', '--quiet', MOTO_REQUIREMENT]],
  ];
  for (const [command, args] of steps) {
    const result = spawnSync(command, args, { stdio: ['ignore', 'inherit', 'inherit'] });
    if (result.status !== 0) throw new Error(`could not install moto: ${command} ${args.join(' ')} failed`);
  }
  return MOTO_SERVER;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port')),
      );
    });
  });
}

/** A moto server on 127.0.0.1, serving every AWS service on one port. */
export interface Moto {
  endpoint: string;
  /** The moto server's own process id. */
  pid: number;
  /** Require valid signatures from now on (moto's `reset-auth`). */
  enableAuth(): Promise<void>;
  /** Forget every resource and turn signature checking off again. */
  reset(): Promise<void>;
  stop(): Promise<void>;
}

/** Start moto in server mode on a free loopback port and wait (bounded) until it answers. */
export async function startMoto(options: { port?: number; progress?: (line: string) => void } = {}): Promise<Moto> {
  ensureMotoInstalled(options.progress);
  const port = options.port ?? (await freePort());
  const endpoint = `http://127.0.0.1:${port}`;
  // stdin is the lifeline (see MOTO_WATCHED): a pipe this process never writes to.
  const child: ChildProcess = spawn(PYTHON, ['-c', MOTO_WATCHED, '-H', '127.0.0.1', '-p', String(port)], {
    stdio: ['pipe', 'ignore', 'pipe'],
    env: { ...process.env, MOTO_ALLOW_NONEXISTENT_REGION: 'false' },
  });
  // The pipe covers any death; this covers a normal exit at once, before the OS closes the pipe.
  const killOnExit = () => child.kill('SIGKILL');
  process.on('exit', killOnExit);
  child.once('exit', () => process.removeListener('exit', killOnExit));
  // A signal (SIGKILL, the OOM killer) leaves exitCode null and sets signalCode instead.
  const ended = () => child.exitCode !== null || child.signalCode !== null;
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-2000)));

  // Generous: a busy machine (a test suite beside a demo) can take tens of seconds to start Python.
  const deadline = Date.now() + 120_000;
  for (;;) {
    if (ended()) throw new Error(`moto exited (${child.exitCode ?? child.signalCode}): ${stderr}`);
    try {
      const response = await fetch(`${endpoint}/moto-api/data.json`, { signal: AbortSignal.timeout(1000) });
      if (response.ok) break;
    } catch {
      // Not listening yet.
    }
    if (Date.now() > deadline) {
      child.kill();
      throw new Error(`moto did not answer on ${endpoint} within 120 s: ${stderr}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }

  const post = async (route: string, body?: string) => {
    const response = await fetch(`${endpoint}${route}`, { method: 'POST', body, signal: AbortSignal.timeout(10_000) });
    if (!response.ok) throw new Error(`moto ${route}: HTTP ${response.status}`);
  };
  return {
    endpoint,
    pid: child.pid ?? 0,
    enableAuth: () => post('/moto-api/reset-auth', '0'),
    reset: async () => {
      await post('/moto-api/reset-auth', 'inf');
      await post('/moto-api/reset');
    },
    stop: async () => {
      if (ended()) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 5000))]);
      if (!ended()) child.kill('SIGKILL');
    },
  };
}
