/**
 * Benchmark of the approval lookups at 1,000, 10,000 and 100,000 records in moto's approvals
 * table: an execution's pending approvals (what a retried gate, the archiver and `--auto-approve`
 * ask) and the waiting ones across executions (`keyrot approvals`), each by its index Query and
 * by the Scan-and-filter keyrot used before the indexes. Run with `npm run bench`;
 * BENCH_MAX_RECORDS lowers the largest size, BENCH_ROUNDS the repetitions, BENCH_SCAN_MAX the
 * largest size the Scan is timed at (moto's Scan grows faster than linearly).
 */
import { randomBytes } from 'node:crypto';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { BatchWriteCommand, DynamoDBDocumentClient, ScanCommand } from '@aws-sdk/lib-dynamodb';
import { pendingApprovals, waitingApprovals, type ApprovalRecord } from '../handlers/domain/approvals';
import { PENDING_PARTITION } from '../handlers/shared/approval-indexes';
import { startMoto } from '../local/moto';
import { createApprovalsTable } from '../local/seed';

const SIZES = [1_000, 10_000, 100_000].filter((size) => size <= Number(process.env.BENCH_MAX_RECORDS ?? 100_000));
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
// moto's Scan took 8 s at 1,000 records and 126 s at 10,000 on the 2-core machine: beyond this
// size the before-numbers are not measured (BENCH_SCAN_MAX raises it).
const SCAN_MAX = Number(process.env.BENCH_SCAN_MAX ?? 10_000);
/** One execution in this many still waits at its deletion gate; the others were decided. */
const PENDING_EVERY = 500;
const TABLE = 'bench-approvals';
const execution = (n: number) => `arn:aws:states:eu-west-1:111122223333:execution:Keyrot-rotation:svc-${n}-20261201`;

/** An approval record as requestApproval stores it (and decide signs it): about 1.5 KiB. */
function approval(n: number, gate: 'ROTATION' | 'DELETION'): ApprovalRecord {
  const pending = gate === 'DELETION' && n % PENDING_EVERY === 0;
  return {
    approvalId: randomBytes(16).toString('hex'),
    taskToken: randomBytes(384).toString('base64'),
    executionId: execution(n),
    gate,
    state: gate === 'DELETION' ? 'Approve Deletion' : 'Approve Rotation',
    userName: `svc-${n}`,
    keyIds: ['AKIAOLD0000000000001', 'AKIANEW0000000000002'],
    keys: [
      { keyId: 'AKIAOLD0000000000001', status: 'Active', createdAt: '2026-08-01T10:00:00Z', ageDays: 122 },
    ] as ApprovalRecord['keys'],
    oldKeyId: 'AKIAOLD0000000000001',
    newKeyId: 'AKIANEW0000000000002',
    requestedBy: 'ops',
    requestedAt: '2026-12-01T10:00:00.000Z',
    expiresAt: pending ? '2099-12-02T10:00:00.000Z' : '2026-12-02T10:00:00.000Z',
    status: pending ? 'PENDING' : 'APPROVED',
    ...(pending
      ? { pending: PENDING_PARTITION }
      : {
          signature: {
            approvalId: 'x'.repeat(32),
            executionId: execution(n),
            state: 'Approve Deletion',
            user: `svc-${n}`,
            keyIds: ['AKIAOLD0000000000001', 'AKIANEW0000000000002'],
            signer: 'Quinn Avery (QA Lead)',
            signerId: 'quality-approver',
            signerSub: randomBytes(16).toString('hex'),
            meaning: 'APPROVED',
            reason: 'CR-1042 reviewed',
            signedAt: '2026-12-01T11:00:00.000Z',
            digest: randomBytes(32).toString('hex'),
            kmsSignature: randomBytes(72).toString('base64'),
            keyId: 'arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab',
          } as unknown as ApprovalRecord['signature'],
        }),
  };
}

/** Fill the table up to `records` (two gates per execution), 25 items a call, four calls at once. */
async function seed(doc: DynamoDBDocumentClient, from: number, records: number): Promise<void> {
  const batches: ApprovalRecord[][] = [];
  for (let n = from / 2; n < records / 2; n += 1) {
    const last = batches.at(-1);
    const items = [approval(n, 'ROTATION'), approval(n, 'DELETION')];
    if (last && last.length < 25) last.push(...items);
    else batches.push(items);
  }
  const write = async () => {
    for (let batch = batches.pop(); batch; batch = batches.pop()) {
      let requests = batch.map((item) => ({ PutRequest: { Item: item as unknown as Record<string, unknown> } }));
      while (requests.length) {
        const answer = await doc.send(new BatchWriteCommand({ RequestItems: { [TABLE]: requests } }));
        requests = (answer.UnprocessedItems?.[TABLE] ?? []) as typeof requests;
      }
    }
  };
  await Promise.all([write(), write(), write(), write()]);
}

/** Before the indexes: every page of a Scan, filtered here; returns the matches, calls and items read. */
async function scanFor(doc: DynamoDBDocumentClient, keep: (item: ApprovalRecord) => boolean) {
  let calls = 0;
  let read = 0;
  const found: ApprovalRecord[] = [];
  let start: Record<string, unknown> | undefined;
  do {
    const page = await doc.send(new ScanCommand({ TableName: TABLE, ExclusiveStartKey: start }));
    calls += 1;
    read += page.Count ?? 0;
    found.push(...((page.Items ?? []) as ApprovalRecord[]).filter(keep));
    start = page.LastEvaluatedKey;
  } while (start);
  return { found: found.length, calls, read };
}

/** Median and extremes of `rounds` timings of `fn` (ms), and its last answer. */
async function time<T>(
  rounds: number,
  fn: () => Promise<T>,
): Promise<{ median: number; min: number; max: number; last: T }> {
  const times: number[] = [];
  let last: T | undefined;
  for (let round = 0; round < rounds; round += 1) {
    const started = performance.now();
    last = await fn();
    times.push(performance.now() - started);
  }
  times.sort((a, b) => a - b);
  return {
    median: times[Math.floor(times.length / 2)] ?? 0,
    min: times[0] ?? 0,
    max: times.at(-1) ?? 0,
    last: last as T,
  };
}

const ms = (t: { median: number; min: number; max: number }) =>
  `${t.median.toFixed(1).padStart(8)} ms  (min ${t.min.toFixed(1)}, max ${t.max.toFixed(1)})`;

const moto = await startMoto();
try {
  const credentials = { accessKeyId: 'bench', secretAccessKey: 'bench' };
  const ddb = new DynamoDBClient({ endpoint: moto.endpoint, region: 'eu-west-1', credentials });
  const doc = DynamoDBDocumentClient.from(ddb);
  const config = { approvalsTable: TABLE };
  await createApprovalsTable(ddb, TABLE);
  const now = new Date('2026-12-01T12:00:00.000Z');
  console.log(
    `keyrot approval lookup benchmark  ${new Date().toISOString()}  node ${process.version}  ${ROUNDS} rounds (Scan: fewer at size)`,
  );
  let seeded = 0;
  for (const size of SIZES) {
    const started = performance.now();
    await seed(doc, seeded, size);
    seeded = size;
    const seedMs = performance.now() - started;
    const target = execution(PENDING_EVERY * Math.floor(size / 2 / PENDING_EVERY / 2));
    const scanRounds = Math.max(1, Math.round((ROUNDS * 1_000) / size));
    const byIndex = await time(ROUNDS, () => pendingApprovals({ ddb: doc }, config, target));
    const listed = await time(ROUNDS, async () => {
      let count = 0;
      let pages = 0;
      for await (const page of waitingApprovals({ ddb: doc }, config, now)) {
        count += page.length;
        pages += 1;
      }
      return { count, pages };
    });
    console.log(`  ${size.toLocaleString('en-US')} records (seeded in ${(seedMs / 1000).toFixed(1)} s)`);
    console.log(
      `    an execution's pending approvals, ByExecution Query   ${ms(byIndex)}  1 call, ${byIndex.last.length} found`,
    );
    const before = async (keep: (item: ApprovalRecord) => boolean) => {
      if (size > SCAN_MAX) return `not measured above ${SCAN_MAX.toLocaleString('en-US')} records (BENCH_SCAN_MAX)`;
      const scan = await time(scanRounds, () => scanFor(doc, keep));
      return `${ms(scan)}  ${scan.last.calls} calls, ${scan.last.read} items read, ${scan.last.found} found`;
    };
    const pendingOf = (item: ApprovalRecord) => item.status === 'PENDING' && item.executionId === target;
    console.log(`    the same by Scan and filter (before)                  ${await before(pendingOf)}`);
    console.log(
      `    keyrot approvals, Pending index Query                 ${ms(listed)}  ${listed.last.pages} page(s), ${listed.last.count} listed`,
    );
    const waiting = (item: ApprovalRecord) => item.status === 'PENDING' && item.expiresAt > now.toISOString();
    console.log(`    the same by Scan and filter (before)                  ${await before(waiting)}`);
  }
  console.log(
    "  moto answers a Query by walking the whole table in Python, so the index times still grow with its size; DynamoDB reads only the index's matching items",
  );
} finally {
  await moto.stop();
}
