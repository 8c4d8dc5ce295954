import * as z from './shared/zod';
import { notify } from './domain/notify';
import { sns } from './shared/aws/sns';
import { settings } from './shared/settings';
import { lambdaHandler } from './shared/lambda';

const Summary = z.object({
  scan: z.object({
    asOf: z.string(),
    accounts: z.array(z.string()),
    users: z.number(),
    counts: z.record(z.string(), z.number()),
    dueTotal: z.number(),
    unscanned: z._default(z.array(z.object({ account: z.string(), reason: z.string() })), []),
  }),
  starts: z.array(
    z.object({
      userName: z.string(),
      account: z.optional(z.string()),
      name: z.optional(z.string()),
      started: z.boolean(),
      failed: z.optional(z.string()),
    }),
  ),
});

/** Send Summary: the day's counts, what started, what was already running, what failed. */
export const handler = lambdaHandler(Summary, async ({ scan, starts }) => {
  const started = starts.filter((item) => item.started).map((item) => item.name ?? item.userName);
  const failed = starts.filter((item) => item.failed).map((item) => `${item.userName}: ${item.failed}`);
  const already = starts.length - started.length - failed.length;
  const deferred = scan.dueTotal - starts.length;
  const counts = Object.entries(scan.counts)
    .map(([verdict, n]) => `${verdict} ${n}`)
    .join(', ');
  const message = [
    `keyrot daily scan as of ${scan.asOf}: ${scan.users} user(s) with keys in ${scan.accounts.length} account(s).`,
    `Verdicts: ${counts}.`,
    ...scan.unscanned.map((miss) => `NOT SCANNED: account ${miss.account}: ${miss.reason}.`),
    `Rotations started: ${started.length}${started.length > 0 ? ` (${started.join(', ')})` : ''}.`,
    `Already started in this window: ${already}.`,
    `Failed to start: ${failed.length}${failed.length > 0 ? ` (${failed.join('; ')})` : ''}.`,
    ...(deferred > 0 ? [`Left for the next scan (per-scan limit): ${deferred}.`] : []),
  ].join('\n');
  const notified = await notify({ sns }, settings().topicArn, {
    subject: `keyrot daily scan: ${scan.counts.DUE ?? 0} due, ${started.length} started, ${failed.length} failed`,
    message,
    userName: '-',
    event: 'DAILY_SUMMARY',
  });
  return {
    counts: scan.counts,
    started: started.length,
    alreadyStarted: already,
    failed: failed.length,
    deferred,
    ...notified,
  };
});
