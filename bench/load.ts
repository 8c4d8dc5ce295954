/**
 * Benchmark of concurrent rotations through the local engine against moto: N = 10 and 100
 * rotations started at once (waits instant, gates signed in-process). Prints wall time,
 * throughput and peak memory of this process (engine, handlers, SDK clients; moto runs apart).
 * Run with `npm run bench`.
 */
import { startMoto } from '../local/moto';
import { seedKeyrotResources, seedUser } from '../local/seed';

const SIZES = (process.env.BENCH_LOAD_SIZES ?? '10,100').split(',').map(Number);
const moto = await startMoto();
try {
  Object.assign(process.env, await seedKeyrotResources(moto.endpoint));
  const total = SIZES.reduce((sum, n) => sum + n, 0);
  // One more than measured: the first rotation only warms the process up.
  const users = Array.from({ length: total + 1 }, (_, i) => `load-${i}`);
  for (const user of users) await seedUser(moto.endpoint, user, { onboard: true });
  await moto.enableAuth();
  const { clients, settings } = await import('../handlers/shared/clients');
  const { decideAllPending } = await import('../handlers/domain/approvals');
  const { synthesizeDefinition } = await import('../local/definition');
  const { LocalTaskTokens, runLocal } = await import('../local/engine');
  const definition = synthesizeDefinition();
  const tokens = new LocalTaskTokens();
  const rotate = (userName: string) =>
    runLocal(definition, {
      input: { userName, force: true, requestedBy: 'bench', config: { validationMode: 'none' } },
      tokens,
      waits: 'skip',
      onWaiting: (_state, executionArn) =>
        void decideAllPending({ ...clients, callbacks: tokens }, settings(), executionArn, {
          signer: { username: 'quality-approver', name: 'Quinn Avery (QA Lead)' },
          meaning: 'APPROVED',
          reason: 'benchmark',
        }),
    });
  // Warm: handlers loaded once, as a long-lived process has them.
  await rotate(users.pop() ?? '');

  console.log(`keyrot load benchmark  ${new Date().toISOString()}  node ${process.version}  local engine + moto`);
  console.log('       N   wall s   rotations/s   median ms   max ms   peak RSS MiB   peak heap MiB   outcomes');
  let next = 0;
  for (const size of SIZES) {
    const batch = users.slice(next, next + size);
    next += size;
    let peakRss = 0;
    let peakHeap = 0;
    const sample = setInterval(() => {
      const memory = process.memoryUsage();
      peakRss = Math.max(peakRss, memory.rss);
      peakHeap = Math.max(peakHeap, memory.heapUsed);
    }, 20);
    const start = performance.now();
    const results = await Promise.all(
      batch.map(async (user) => {
        const begin = performance.now();
        const execution = await rotate(user);
        return {
          ms: performance.now() - begin,
          outcome: (execution.output as { outcome?: string })?.outcome ?? execution.error,
        };
      }),
    );
    const wall = (performance.now() - start) / 1000;
    clearInterval(sample);
    const times = results.map((r) => r.ms).sort((a, b) => a - b);
    const outcomes = Object.entries(
      results.reduce<Record<string, number>>(
        (acc, r) => ({ ...acc, [String(r.outcome)]: (acc[String(r.outcome)] ?? 0) + 1 }),
        {},
      ),
    )
      .map(([outcome, n]) => `${n} ${outcome}`)
      .join(', ');
    console.log(
      [
        String(size).padStart(8),
        wall.toFixed(1).padStart(9),
        (size / wall).toFixed(1).padStart(14),
        times[Math.floor(times.length / 2)]!.toFixed(0).padStart(12),
        times.at(-1)!.toFixed(0).padStart(9),
        (peakRss / 1048576).toFixed(0).padStart(15),
        (peakHeap / 1048576).toFixed(0).padStart(16),
        `   ${outcomes}`,
      ].join(''),
    );
  }
} finally {
  await moto.stop();
}
