import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import * as path from 'node:path';

const ROOT = path.resolve(import.meta.dirname, '..');
const VENV = path.join(ROOT, '.venv');
const MOTO_SERVER = path.join(VENV, 'bin', 'moto_server');
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
  /** Require valid signatures from now on (moto's `reset-auth`). */
  enableAuth(): Promise<void>;
  /** Forget every resource and turn signature checking off again. */
  reset(): Promise<void>;
  stop(): Promise<void>;
}

/** Start moto in server mode on a free loopback port and wait (bounded) until it answers. */
export async function startMoto(options: { port?: number; progress?: (line: string) => void } = {}): Promise<Moto> {
  const server = ensureMotoInstalled(options.progress);
  const port = options.port ?? (await freePort());
  const endpoint = `http://127.0.0.1:${port}`;
  const child: ChildProcess = spawn(server, ['-H', '127.0.0.1', '-p', String(port)], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, MOTO_ALLOW_NONEXISTENT_REGION: 'false' },
  });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-2000)));

  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`moto exited (${child.exitCode}): ${stderr}`);
    try {
      const response = await fetch(`${endpoint}/moto-api/data.json`, { signal: AbortSignal.timeout(1000) });
      if (response.ok) break;
    } catch {
      // Not listening yet.
    }
    if (Date.now() > deadline) {
      child.kill();
      throw new Error(`moto did not answer on ${endpoint} within 30 s: ${stderr}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }

  const post = async (route: string, body?: string) => {
    const response = await fetch(`${endpoint}${route}`, { method: 'POST', body, signal: AbortSignal.timeout(10_000) });
    if (!response.ok) throw new Error(`moto ${route}: HTTP ${response.status}`);
  };
  return {
    endpoint,
    enableAuth: () => post('/moto-api/reset-auth', '0'),
    reset: async () => {
      await post('/moto-api/reset-auth', 'inf');
      await post('/moto-api/reset');
    },
    stop: async () => {
      if (child.exitCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 5000))]);
      if (child.exitCode === null) child.kill('SIGKILL');
    },
  };
}
