/**
 * Benchmark of concurrent rotations through the local engine against moto: N = 10 and 100
 * rotations started at once (waits instant, gates signed in-process). Prints wall time,
 * throughput and peak memory of this process (engine, handlers, SDK clients; moto runs apart).
 * Run with `npm run bench`.
 */
import { startMoto } from '../local/moto';
import { seedKeyrotResources, seedUser } from '../local/seed';
import { inParallel, spread } from '../test/support/parallel';

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
  const { LocalTaskTokens, localExecutionArn, runLocal } = await import('../local/engine');
  const { withRequester } = await import('../handlers/domain/requester');
  const definition = await synthesizeDefinition();
  const tokens = new LocalTaskTokens();
  const rotate = async (userName: string) =>
    runLocal(definition, {
      name: `bench-${userName}`,
      input: await withRequester(
        { userName, force: true, config: { validationMode: 'none' } },
        localExecutionArn(definition.stateMachineName, `bench-${userName}`),
      ),
      tokens,
      waits: 'skip',
      onWaiting: (_state, executionArn) =>
        void decideAllPending({ ...clients, callbacks: tokens }, settings(), executionArn, {
          signer: { username: 'quality-approver', sub: 'auto-approve:quality-approver', name: 'Quinn Avery (QA Lead)' },
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
    const run = await inParallel(batch, rotate);
    const { median, max } = spread(run.results.map((r) => r.ms));
    const outcomes = Object.entries(
      run.results.reduce<Record<string, number>>((acc, { value }) => {
        const outcome = String((value.output as { outcome?: string })?.outcome ?? value.error);
        return { ...acc, [outcome]: (acc[outcome] ?? 0) + 1 };
      }, {}),
    )
      .map(([outcome, n]) => `${n} ${outcome}`)
      .join(', ');
    console.log(
      [
        String(size).padStart(8),
        run.wallSeconds.toFixed(1).padStart(9),
        (size / run.wallSeconds).toFixed(1).padStart(14),
        median.toFixed(0).padStart(12),
        max.toFixed(0).padStart(9),
        run.peakRssMiB.toFixed(0).padStart(15),
        run.peakHeapMiB.toFixed(0).padStart(16),
        `   ${outcomes}`,
      ].join(''),
    );
  }
} finally {
  await moto.stop();
}
