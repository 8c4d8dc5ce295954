import { GetAccessKeyLastUsedCommand } from '@aws-sdk/client-iam';
import type { Clients } from '../shared/clients';

/**
 * How long the old key must have been quiet for a use after distribution to count as a
 * consumer that has since moved. IAM reports last use late and at hour-ish granularity, so a
 * key in constant use can look an hour idle: twice that is the margin. The workflow's retries
 * of `OldKeyStillInUse` (six, ten minutes apart) give a consumer that hour to move.
 */
export const OLD_KEY_QUIET_SECONDS = 2 * 3600;

/** The old key's last use as IAM reports it, against the moment the new key was distributed. */
export interface OldKeyUse {
  keyId: string;
  lastUsedAt: string | null;
  distributedAt: string;
  /** Used after the new key became AWSCURRENT: some consumer has not moved (or had not yet). */
  usedAfterDistribution: boolean;
}

/** Judge the old key's last use against the distribution time. */
export function judgeOldKeyUse(keyId: string, lastUsedAt: Date | null | undefined, distributedAt: string): OldKeyUse {
  const usedAfterDistribution = !!lastUsedAt && lastUsedAt.getTime() > Date.parse(distributedAt);
  return { keyId, lastUsedAt: lastUsedAt?.toISOString() ?? null, distributedAt, usedAfterDistribution };
}

/**
 * Why the old key may not be deactivated now, or undefined when it may: it was used after
 * distribution and less than `quietSeconds` ago, so a consumer still depends on it.
 */
export function stillInUse(use: OldKeyUse, now: Date, quietSeconds = OLD_KEY_QUIET_SECONDS): string | undefined {
  if (!use.usedAfterDistribution || !use.lastUsedAt) return undefined;
  if (now.getTime() - Date.parse(use.lastUsedAt) >= quietSeconds * 1000) return undefined;
  return (
    `old key ${use.keyId} was last used at ${use.lastUsedAt}, after the new key was distributed at ` +
    `${use.distributedAt}: a consumer still uses it`
  );
}

/** The old key's last use, from IAM (GetAccessKeyLastUsed), judged against the distribution. */
export async function oldKeyUse(
  { iam }: Pick<Clients, 'iam'>,
  keyId: string,
  distributedAt: string,
): Promise<OldKeyUse> {
  const found = await iam.send(new GetAccessKeyLastUsedCommand({ AccessKeyId: keyId }));
  return judgeOldKeyUse(keyId, found.AccessKeyLastUsed?.LastUsedDate, distributedAt);
}
