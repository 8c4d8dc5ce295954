import * as z from './shared/zod';
import { accountSettings } from './domain/accounts';
import { countVerdicts, DEFAULT_RULES, scanAccounts } from './domain/scan';
import { iam } from './shared/aws/iam';
import { sts } from './shared/aws/sts';
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
      /** At most this many rotations per scan; the rest start the next day (state size stays bounded). */
      maxStarts: z._default(z.int().check(z.minimum(1), z.maximum(2000)), 1000),
    }),
    { maxStarts: 1000 },
  ),
  startedAt: z.iso.datetime({ offset: true }),
});

/** Scan Accounts: every account's credential report, a verdict per user, and the DUE list for the map. */
export const handler = lambdaHandler(Request, async ({ input, startedAt }) => {
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
    // Our own account travels as '' so every item has the same shape for the map's selector.
    .map((user) => ({ userName: user.user, account: user.account === own ? '' : user.account }));
  return {
    scannedAt: startedAt,
    asOf: asOf.toISOString(),
    accounts,
    unscanned,
    users: users.length,
    counts: countVerdicts(users),
    dueTotal: due.length,
    due: due.slice(0, input.maxStarts),
  };
});
