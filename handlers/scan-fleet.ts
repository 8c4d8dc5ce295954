import * as z from './shared/zod';
import { accountSettings } from './domain/accounts';
import { countVerdicts, DEFAULT_RULES, scanAccounts } from './domain/scan';
import { scanFolder, writeDueLists } from './domain/scan-lists';
import { iam } from './shared/aws/iam';
import { s3 } from './shared/aws/s3';
import { sts } from './shared/aws/sts';
import { InvalidInputError } from './shared/errors';
import { lambdaHandler } from './shared/lambda';

const Days = z.int().check(z.minimum(1), z.maximum(3650));

/** What the schedule (or an operator) starts the scan with; every field has a default. */
const Request = z.object({
  input: z._default(
    z.strictObject({
      asOf: z.optional(z.iso.datetime({ offset: true })),
      warnDays: z.optional(Days),
      maxAgeDays: z.optional(Days),
      unusedDays: z.optional(Days),
      /** At most this many rotations per scan; the rest start the next day (IAM's rate limits stay the bound). */
      maxStarts: z._default(z.int().check(z.minimum(1), z.maximum(100_000)), 10_000),
    }),
    { maxStarts: 10_000 },
  ),
  startedAt: z.iso.datetime({ offset: true }),
  /** The scan execution's name: the folder its due lists are written to. */
  scanName: z.string().check(z.minLength(1), z.maxLength(80)),
});

/** Scan Accounts: every account's credential report, a verdict per user, and the DUE users in lists in S3. */
export const handler = lambdaHandler(Request, async ({ input, startedAt, scanName }) => {
  const bucket = process.env.KEYROT_SCAN_BUCKET;
  if (!bucket) throw new InvalidInputError('KEYROT_SCAN_BUCKET is not set');
  const asOf = new Date(input.asOf ?? startedAt);
  const { own, accounts, users, unscanned } = await scanAccounts({ iam, sts }, accountSettings(), {
    ...DEFAULT_RULES,
    ...(input.warnDays ? { warnDays: input.warnDays } : {}),
    ...(input.maxAgeDays ? { maxAgeDays: input.maxAgeDays } : {}),
    ...(input.unusedDays ? { unusedDays: input.unusedDays } : {}),
    exemptTag: process.env.KEYROT_EXEMPT_TAG ?? DEFAULT_RULES.exemptTag,
    asOf,
    scope: {
      userPath: process.env.KEYROT_USER_PATH ?? '/',
      ...(process.env.KEYROT_USER_TAG ? { userTag: process.env.KEYROT_USER_TAG } : {}),
    },
  });
  const due = users
    .filter((user) => user.verdict === 'DUE')
    .map((user) => ({ userName: user.user, ...(user.account === own ? {} : { account: user.account }) }));
  return {
    scannedAt: startedAt,
    asOf: asOf.toISOString(),
    accounts,
    unscanned,
    users: users.length,
    counts: countVerdicts(users),
    dueTotal: due.length,
    // Only keys and counts enter the state: its size no longer grows with names or paths.
    lists: await writeDueLists(s3, bucket, scanFolder(scanName), due.slice(0, input.maxStarts)),
  };
});
