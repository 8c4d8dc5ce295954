/**
 * Benchmark of one rotation in local mode: wall time (waits made instant), AWS API calls by
 * service and command, state transitions, and the bundled size of each handler (from the
 * last `cdk synth`). Run with `npm run bench`; prints a table to compare between versions.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import * as path from 'node:path';
import { startMoto } from '../local/moto';
import { recordBody } from '../handlers/domain/archive';
import { seedKeyrotResources, seedUser } from '../local/seed';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 10);

type Stackful = { middlewareStack: { add: (m: never, o: { step: 'initialize'; name: string }) => void } };
const calls = new Map<string, number>();
/** The handler running now (the engine's `around`), so each call is also counted against it. */
let running = '(approver)';
const byHandler = new Map<string, Map<string, number>>();
function count(service: string, client: Stackful): void {
  const middleware = (next: (a: unknown) => Promise<unknown>, context: { commandName?: string }) => (args: unknown) => {
    const key = `${service}:${(context.commandName ?? '?').replace(/Command$/, '')}`;
    calls.set(key, (calls.get(key) ?? 0) + 1);
    const mine = byHandler.get(running) ?? new Map<string, number>();
    mine.set(key, (mine.get(key) ?? 0) + 1);
    byHandler.set(running, mine);
    return next(args);
  };
  client.middlewareStack.add(middleware as never, { step: 'initialize', name: 'bench-count' });
}

const moto = await startMoto();
try {
  Object.assign(process.env, await seedKeyrotResources(moto.endpoint));
  const users = Array.from({ length: ROUNDS }, (_, i) => `bench-user-${i}`);
  for (const user of users) await seedUser(moto.endpoint, user, { onboard: true });
  await moto.enableAuth();

  const { clients } = await import('../handlers/shared/clients');
  const { decideAllPending } = await import('../handlers/domain/approvals');
  const { synthesizeDefinition } = await import('../local/definition');
  const { LocalTaskTokens, localExecutionArn, recordOf, runLocal } = await import('../local/engine');
  const { withRequester } = await import('../handlers/domain/requester');
  count('iam', clients.iam);
  count('secretsmanager', clients.secrets);
  count('sns', clients.sns);
  count('dynamodb', clients.ddb);
  count('kms', clients.kms);
  count('cognito-idp', clients.cognito);
  const stsFor = clients.stsFor;
  clients.stsFor = (credentials) => {
    const sts = stsFor(credentials);
    count('sts', sts);
    return sts;
  };

  const synthStart = performance.now();
  const definition = await synthesizeDefinition();
  const synthMs = performance.now() - synthStart;
  const tokens = new LocalTaskTokens();
  const { settings } = await import('../handlers/shared/clients');
  const approvalsTable = settings();
  const times: number[] = [];
  let transitions = 0;
  let perRotation = new Map<string, number>();
  let perHandler = new Map<string, Map<string, number>>();
  let approverCalls = 0;
  let recordBytes = 0;
  let historyEvents = 0;
  for (const [round, user] of users.entries()) {
    byHandler.clear();
    const start = performance.now();
    const name = `bench-${round}-${Date.now()}`;
    const execution = await runLocal(definition, {
      name,
      input: await withRequester(
        { userName: user, force: true, config: { validationMode: 'none' } },
        localExecutionArn(definition.stateMachineName, name),
      ),
      tokens,
      waits: 'skip',
      around: async (handler, invoke) => {
        running = handler;
        try {
          return await invoke();
        } finally {
          running = '(approver)';
        }
      },
      onWaiting: async (_state, executionArn) => {
        // The approver's own calls (find it, Get + conditional Update, KMS Sign) happen outside
        // the workflow: counted apart, under '(approver)'.
        await decideAllPending({ ...clients, callbacks: tokens }, approvalsTable, executionArn, {
          signer: { username: 'quality-approver', sub: 'auto-approve:quality-approver', name: 'Quinn Avery (QA Lead)' },
          meaning: 'APPROVED',
          reason: 'benchmark',
        });
      },
    });
    times.push(performance.now() - start);
    if (execution.status !== 'SUCCEEDED') throw new Error(`${user}: ${execution.error} ${execution.cause}`);
    if (round === 1) {
      transitions = execution.events.filter((e) => e.type.endsWith('StateEntered')).length;
      perHandler = new Map([...byHandler].filter(([handler]) => handler !== '(approver)'));
      perRotation = new Map<string, number>();
      for (const counts of perHandler.values()) {
        for (const [name, n] of counts) perRotation.set(name, (perRotation.get(name) ?? 0) + n);
      }
      approverCalls = [...(byHandler.get('(approver)')?.values() ?? [])].reduce((sum, n) => sum + n, 0);
      recordBytes = Buffer.byteLength(recordBody(recordOf(execution)));
      historyEvents = execution.events.length;
    }
  }

  const sorted = [...times.slice(1)].sort((a, b) => a - b);
  const median = sorted[Math.floor(sorted.length / 2)] ?? 0;
  console.log(`keyrot rotation benchmark  ${new Date().toISOString()}  node ${process.version}  ${ROUNDS} rotations`);
  console.log(`  synthesize definition (once per process)   ${synthMs.toFixed(0)} ms`);
  console.log(`  first rotation (cold: loads handlers)      ${times[0]?.toFixed(0)} ms`);
  console.log(
    `  warm rotation, median of ${sorted.length}              ${median.toFixed(0)} ms  (min ${sorted[0]?.toFixed(0)}, max ${sorted.at(-1)?.toFixed(0)})`,
  );
  console.log(`  states entered per rotation (gate on)      ${transitions}`);
  const total = [...perRotation.values()].reduce((sum, n) => sum + n, 0);
  console.log(
    `  AWS API calls per rotation (gate on)       ${total} by the handlers; the approver adds ${approverCalls}`,
  );
  for (const [name, n] of [...perRotation.entries()].sort()) console.log(`    ${name.padEnd(44)} ${n}`);
  console.log('  the same calls by handler, in the order they ran');
  for (const [handler, counts] of perHandler) {
    const listed = [...counts].map(([name, n]) => (n > 1 ? `${name} ×${n}` : name)).join(', ');
    const sum = [...counts.values()].reduce((total, n) => total + n, 0);
    console.log(`    ${handler.padEnd(24)} ${String(sum).padStart(2)}  ${listed}`);
  }
  console.log(
    `  archive record per rotation                ${(recordBytes / 1024).toFixed(1)} KiB canonical JSON (${historyEvents} events, definition included) + one chain entry (~0.7 KiB)`,
  );

  const out = path.resolve(import.meta.dirname, '..', 'cdk.out');
  const template = JSON.parse(readFileSync(path.join(out, 'Keyrot.template.json'), 'utf8')) as {
    Resources: Record<string, { Type: string; Metadata?: Record<string, string> }>;
  };
  console.log('  bundled handler size (cdk.out, minified ESM, AWS SDK external)');
  for (const resource of Object.values(template.Resources)) {
    if (resource.Type !== 'AWS::Lambda::Function' || !resource.Metadata?.['aws:asset:path']) continue;
    const dir = path.join(out, resource.Metadata['aws:asset:path']);
    const bytes = readdirSync(dir)
      .filter((file) => file.endsWith('.mjs'))
      .reduce((sum, file) => sum + statSync(path.join(dir, file)).size, 0);
    const name = resource.Metadata['aws:cdk:path']?.split('/')[1] ?? '?';
    console.log(`    ${name.padEnd(28)} ${(bytes / 1024).toFixed(1).padStart(7)} KiB`);
  }
} finally {
  await moto.stop();
}
