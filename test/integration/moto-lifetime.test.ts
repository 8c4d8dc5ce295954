import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { afterAll, describe, it } from '@jest/globals';
import { startMoto } from '../../local/moto';

const ROOT = path.resolve(import.meta.dirname, '../..');
const CHILD = path.join(ROOT, 'test/support/moto-child.ts');
/** How long moto may outlive the process that started it. */
const GRACE_MS = 60_000;

/** Every moto pid a test saw, killed at the end whatever happened, so a failure leaks nothing. */
const seen: number[] = [];
afterAll(() => {
  for (const pid of seen) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // Already gone, as it should be.
    }
  }
});

/** Whether a process is still running; a zombie has exited, only its reaping is pending. */
function running(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    return !/^\d+ \(.*\) Z /.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return true;
  }
}

/** Whether moto answers on its endpoint within a second. */
async function answers(endpoint: string): Promise<boolean> {
  try {
    return (await fetch(`${endpoint}/moto-api/data.json`, { signal: AbortSignal.timeout(1000) })).ok;
  } catch {
    return false;
  }
}

/** Milliseconds until moto neither runs nor answers, or undefined if it still does after GRACE_MS. */
async function timeUntilGone(moto: { endpoint: string; pid: number }): Promise<number | undefined> {
  const started = Date.now();
  while (Date.now() - started < GRACE_MS) {
    if (!running(moto.pid) && !(await answers(moto.endpoint))) return Date.now() - started;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return undefined;
}

/** Start test/support/moto-child.ts and read (bounded) the endpoint and pid of the moto it started. */
async function motoChild(mode: 'wait' | 'exit'): Promise<{ child: ChildProcess; endpoint: string; pid: number }> {
  const child = spawn(process.execPath, ['--import', 'tsx', CHILD, mode], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const line = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`moto-child printed no endpoint within 300 s: ${stderr}`));
    }, 300_000);
    child.stdout?.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      if (!stdout.includes('\n')) return;
      clearTimeout(timer);
      resolve(stdout.split('\n')[0] ?? '');
    });
    child.once('exit', (code) => {
      if (stdout.includes('\n')) return;
      clearTimeout(timer);
      reject(new Error(`moto-child exited (${code}) before printing an endpoint: ${stderr}`));
    });
  });
  const moto = JSON.parse(line) as { endpoint: string; pid: number };
  seen.push(moto.pid);
  return { child, ...moto };
}

describe('moto lives no longer than the process that started it', () => {
  it('ends moto within seconds when the process that started it is killed with SIGKILL', async () => {
    const { child, endpoint, pid } = await motoChild('wait');
    assert.equal(await answers(endpoint), true, 'moto answers before the kill');
    assert.equal(running(pid), true);

    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
    const gone = await timeUntilGone({ endpoint, pid });

    assert.notEqual(
      gone,
      undefined,
      `moto ${pid} still ran or answered on ${endpoint} ${GRACE_MS} ms after its parent died`,
    );
  });

  it('ends moto when the process that started it exits without calling stop()', async () => {
    const { child, endpoint, pid } = await motoChild('exit');

    const code = await new Promise((resolve) =>
      child.exitCode === null ? child.once('exit', resolve) : resolve(child.exitCode),
    );
    const gone = await timeUntilGone({ endpoint, pid });

    assert.equal(code, 0);
    assert.notEqual(
      gone,
      undefined,
      `moto ${pid} still ran or answered on ${endpoint} ${GRACE_MS} ms after its parent exited`,
    );
  });

  it('still ends moto itself on stop()', async () => {
    const moto = await startMoto();
    seen.push(moto.pid);
    assert.equal(await answers(moto.endpoint), true, 'moto answers before stop()');

    await moto.stop();

    assert.equal(running(moto.pid), false, 'stop() returns once moto has exited');
    assert.equal(await answers(moto.endpoint), false);
  });
});
