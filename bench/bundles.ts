/**
 * Benchmark of the Lambda bundles: each handler bundled as the stack bundles it (esbuild,
 * minified ESM for Node 24, tree-shaken) twice, with the AWS SDK left external (the nodejs24.x
 * runtime provides SDK v3) and with the SDK clients bundled; its size, and its cold init: a fresh
 * Node process importing the bundle, module scope and clients included (median of RUNS). Printed
 * beside the figures `bench/RESULTS.md` recorded before issue 15 (zod 4 classic, SDK external).
 * Run with `npm run bench`.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import * as path from 'node:path';
import { build } from 'esbuild';
import { HANDLER_NAMES } from '../workflows/rotation';
import { SCAN_HANDLER_NAMES } from '../workflows/scan';

const ROOT = path.resolve(import.meta.dirname, '..');
// Inside the project (git-ignored), so an external SDK resolves from node_modules as the runtime resolves its own.
const OUT = path.join(ROOT, '.keyrot', 'bench-bundles');
const RUNS = 5;
const BUDGET = { kib: 150, ms: 100 };
const handlers = [...HANDLER_NAMES, ...SCAN_HANDLER_NAMES, 'approval-api', 'archive-execution'];
const VARIANTS = ['external', 'bundled'] as const;
type Variant = (typeof VARIANTS)[number];

async function bundle(name: string, variant: Variant): Promise<string> {
  const outfile = path.join(OUT, variant, `${name}.mjs`);
  await build({
    entryPoints: [path.join(ROOT, 'handlers', `${name}.ts`)],
    outfile,
    bundle: true,
    minify: true,
    format: 'esm',
    platform: 'node',
    target: 'node24',
    mainFields: ['module', 'main'],
    external: variant === 'external' ? ['@aws-sdk/*'] : [],
    banner: { js: "import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);" },
    logLevel: 'error',
  });
  return outfile;
}

/** Milliseconds for a fresh Node process to import the bundle (process start excluded). */
function coldInit(file: string): number {
  const output = execFileSync(
    process.execPath,
    [
      '--input-type=module',
      '-e',
      `const t = performance.now(); await import(${JSON.stringify(file)}); console.log(performance.now() - t);`,
    ],
    { env: { ...process.env, AWS_REGION: 'us-east-1' }, encoding: 'utf8' },
  );
  return Number(output.trim());
}

const median = (values: number[]) => values.sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? NaN;

/** Size (KiB) and cold load (ms) per handler from the table RESULTS.md kept from before issue 15. */
function before(): Map<string, { kib: number; ms: number }> {
  const results = readFileSync(path.join(ROOT, 'bench', 'RESULTS.md'), 'utf8');
  const section = results.slice(results.indexOf('### Before issue 15'));
  const rows = new Map<string, { kib: number; ms: number }>();
  for (const [, name, kib, ms] of section.matchAll(/^ {2}([a-z-]+) +([\d.]+) +([\d.]+) +[\d.]+ +[\d.]+$/gm)) {
    if (name && !rows.has(name)) rows.set(name, { kib: Number(kib), ms: Number(ms) });
  }
  return rows;
}

rmSync(OUT, { recursive: true, force: true });
for (const variant of VARIANTS) mkdirSync(path.join(OUT, variant), { recursive: true });
const old = before();
console.log(
  `keyrot bundle benchmark  ${new Date().toISOString()}  node ${process.version}  cold init = median of ${RUNS} fresh processes`,
);
console.log('  handler                   before KiB     ms   SDK external KiB     ms   SDK bundled KiB     ms');
const totals: Record<Variant, { kib: number[]; ms: number[] }> = {
  external: { kib: [], ms: [] },
  bundled: { kib: [], ms: [] },
};
for (const name of handlers) {
  const files = { external: await bundle(name, 'external'), bundled: await bundle(name, 'bundled') };
  const times: Record<Variant, number[]> = { external: [], bundled: [] };
  // Alternated, so a busy moment of the machine weighs on both variants alike.
  for (let run = 0; run < RUNS; run += 1) for (const variant of VARIANTS) times[variant].push(coldInit(files[variant]));
  const cells = VARIANTS.map((variant) => {
    const kib = statSync(files[variant]).size / 1024;
    const ms = median(times[variant]);
    totals[variant].kib.push(kib);
    totals[variant].ms.push(ms);
    return { kib, ms };
  });
  const was = old.get(name);
  console.log(
    [
      `  ${name.padEnd(24)}`,
      (was ? was.kib.toFixed(1) : '-').padStart(11),
      (was ? was.ms.toFixed(1) : '-').padStart(7),
      ...cells.flatMap(({ kib, ms }, index) => [
        kib.toFixed(1).padStart(index === 0 ? 19 : 18),
        ms.toFixed(1).padStart(7),
      ]),
    ].join(''),
  );
}
for (const variant of VARIANTS) {
  const { kib, ms } = totals[variant];
  const within = kib.filter((size, index) => size <= BUDGET.kib && (ms[index] ?? Infinity) <= BUDGET.ms).length;
  console.log(
    `  SDK ${variant.padEnd(8)}  largest ${Math.max(...kib).toFixed(1)} KiB, slowest ${Math.max(...ms).toFixed(1)} ms, ` +
      `median of medians ${median([...ms]).toFixed(1)} ms; ${within}/${handlers.length} within ${BUDGET.kib} KiB and ${BUDGET.ms} ms`,
  );
}
