/**
 * Benchmark of the Lambda bundles: each handler bundled as the stack bundles it (esbuild,
 * minified ESM for Node 24, AWS SDK external), with and without tree shaking; its size, and
 * its cold module-load time: a fresh Node process importing the bundle (median of 5).
 * Run with `npm run bench`.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, rmSync, statSync } from 'node:fs';
import * as path from 'node:path';
import { build } from 'esbuild';
import { HANDLER_NAMES } from '../workflows/rotation';
import { SCAN_HANDLER_NAMES } from '../workflows/scan';

const ROOT = path.resolve(import.meta.dirname, '..');
// Inside the project, so the bundles resolve the AWS SDK from node_modules as the Lambda runtime would.
const OUT = path.join(ROOT, 'node_modules', '.cache', 'keyrot-bench-bundles');
const RUNS = 5;
const handlers = [...HANDLER_NAMES, ...SCAN_HANDLER_NAMES, 'approval-api', 'archive-execution'];

async function bundle(name: string, treeShaking: boolean): Promise<string> {
  const outfile = path.join(OUT, `${name}${treeShaking ? '' : '.no-tree-shaking'}.mjs`);
  await build({
    entryPoints: [path.join(ROOT, 'handlers', `${name}.ts`)],
    outfile,
    bundle: true,
    minify: true,
    format: 'esm',
    platform: 'node',
    target: 'node24',
    mainFields: ['module', 'main'],
    external: ['@aws-sdk/*'],
    treeShaking,
    banner: { js: "import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);" },
    logLevel: 'error',
  });
  return outfile;
}

/** Median milliseconds for a fresh Node process to import the bundle (process start excluded). */
function coldLoad(file: string): number {
  const times: number[] = [];
  for (let run = 0; run < RUNS; run += 1) {
    const output = execFileSync(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        `const t = performance.now(); await import(${JSON.stringify(file)}); console.log(performance.now() - t);`,
      ],
      { env: { ...process.env, AWS_REGION: 'us-east-1' }, encoding: 'utf8' },
    );
    times.push(Number(output.trim()));
  }
  return times.sort((a, b) => a - b)[Math.floor(RUNS / 2)] ?? 0;
}

rmSync(OUT, { recursive: true, force: true });
mkdirSync(OUT, { recursive: true });
console.log(
  `keyrot bundle benchmark  ${new Date().toISOString()}  node ${process.version}  cold load = median of ${RUNS} fresh processes`,
);
console.log('  handler                     tree-shaken KiB   load ms    no tree shaking KiB   load ms');
for (const name of handlers) {
  const shaken = await bundle(name, true);
  const whole = await bundle(name, false);
  console.log(
    [
      `  ${name.padEnd(26)}`,
      (statSync(shaken).size / 1024).toFixed(1).padStart(16),
      coldLoad(shaken).toFixed(1).padStart(10),
      (statSync(whole).size / 1024).toFixed(1).padStart(22),
      coldLoad(whole).toFixed(1).padStart(10),
    ].join(''),
  );
}
