import * as z from './shared/zod';
import { notify } from './domain/notify';
import { sns } from './shared/aws/sns';
import { settings } from './shared/settings';
import { lambdaHandler } from './shared/lambda';

/** Failures the message names; the rest are counted, and every one is in the lists' results in S3. */
const NAMED_FAILURES = 50;

const Summary = z.object({
  scan: z.object({
    asOf: z.string(),
    accounts: z.array(z.string()),
    users: z.number(),
    counts: z.record(z.string(), z.number()),
    dueTotal: z.number(),
    unscanned: z._default(z.array(z.object({ account: z.string(), reason: z.string() })), []),
    lists: z.array(z.object({ key: z.string(), count: z.number() })),
  }),
  /** One per due list: its counts, or (Start List Failed) why the whole list failed. */
  starts: z.array(
    z.object({
      key: z.string(),
      count: z.number(),
      started: z._default(z.number(), 0),
      failed: z.optional(z.number()),
      failures: z._default(z.array(z.string()), []),
      listFailed: z.optional(z.string()),
    }),
  ),
});

/** Send Summary: the day's counts, how many started, were already running, failed; where the full record is. */
export const handler = lambdaHandler(Summary, async ({ scan, starts }) => {
  const sum = (pick: (list: (typeof starts)[number]) => number) => starts.reduce((n, list) => n + pick(list), 0);
  const started = sum((list) => list.started);
  const failed = sum((list) => (list.listFailed ? list.count : (list.failed ?? 0)));
  const already = sum((list) => list.count) - started - failed;
  const deferred = scan.dueTotal - sum((list) => list.count);
  const named = starts.flatMap((list) =>
    list.listFailed ? [`list ${list.key} (${list.count} users): ${list.listFailed}`] : list.failures,
  );
  const folder = scan.lists[0]?.key.replace(/[^/]+$/, '');
  const counts = Object.entries(scan.counts)
    .map(([verdict, n]) => `${verdict} ${n}`)
    .join(', ');
  const message = [
    `keyrot daily scan as of ${scan.asOf}: ${scan.users} user(s) with keys in ${scan.accounts.length} account(s).`,
    `Verdicts: ${counts}.`,
    ...scan.unscanned.map((miss) => `NOT SCANNED: account ${miss.account}: ${miss.reason}.`),
    `Rotations started: ${started}.`,
    `Already started in this window: ${already}.`,
    `Failed to start: ${failed}${named.length > 0 ? ` (${named.slice(0, NAMED_FAILURES).join('; ')}${named.length > NAMED_FAILURES ? '; ...' : ''})` : ''}.`,
    ...(folder
      ? [`Each user and execution name: s3://${process.env.KEYROT_SCAN_BUCKET ?? ''}/${folder}started-*.json.`]
      : []),
    ...(deferred > 0 ? [`Left for the next scan (per-scan limit): ${deferred}.`] : []),
  ].join('\n');
  const notified = await notify({ sns }, settings().topicArn, {
    subject: `keyrot daily scan: ${scan.counts.DUE ?? 0} due, ${started} started, ${failed} failed`,
    message,
    userName: '-',
    event: 'DAILY_SUMMARY',
  });
  return { counts: scan.counts, started, alreadyStarted: already, failed, deferred, ...notified };
});
