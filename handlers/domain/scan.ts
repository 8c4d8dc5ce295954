import { ListUserTagsCommand, type IAMClient } from '@aws-sdk/client-iam';
import type { STSClient } from '@aws-sdk/client-sts';
import { accountIds, iamFor, type AccountSettings } from './accounts';
import { readCredentialReport, type ReportedUser } from './credential-report';

/** OK, WARN (past the warning age), DUE (past the maximum), EXEMPT (tagged), UNUSED (delete, don't rotate). */
export type Verdict = 'OK' | 'WARN' | 'DUE' | 'EXEMPT' | 'UNUSED';

export interface ScanRules {
  /** Warn from this age in days (default 80). */
  warnDays: number;
  /** Due from this age in days (default 90): the same rule as the rotation's Detect step. */
  maxAgeDays: number;
  /** A key never used, or not used for this many days, is a deletion candidate (default 90). */
  unusedDays: number;
  /** The user tag that exempts a user; its value is the reason (default `keyrot:exempt`). */
  exemptTag: string;
  /** The clock: every age is judged as of this time. */
  asOf: Date;
  /**
   * The users keyrot manages (the stack's user path and tag): the credential report lists
   * everyone, and the deployed role may not read the tags of a user outside this scope.
   */
  scope?: { userPath: string; userTag?: string };
}

export const DEFAULT_RULES = { warnDays: 80, maxAgeDays: 90, unusedDays: 90, exemptTag: 'keyrot:exempt' } as const;

export interface ScannedKey {
  slot: 1 | 2;
  active: boolean;
  ageDays: number;
  createdAt: string;
  lastUsedAt: string | null;
  /** Days since last use; since creation when never used. */
  idleDays: number;
}

export interface ScannedUser {
  account: string;
  user: string;
  arn: string;
  keys: ScannedKey[];
  verdict: Verdict;
  /** Why, in a sentence an operator can act on. */
  reason: string;
}

const DAY_MS = 86_400_000;
const days = (from: string, to: Date) => Math.floor((to.getTime() - Date.parse(from)) / DAY_MS);

/** The verdict for one user's keys, before exemptions (those need the user's tags). */
export function judge(user: ReportedUser, rules: Omit<ScanRules, 'exemptTag'>): Omit<ScannedUser, 'account'> {
  const keys: ScannedKey[] = user.keys.map((key) => ({
    ...key,
    ageDays: days(key.createdAt, rules.asOf),
    idleDays: days(key.lastUsedAt ?? key.createdAt, rules.asOf),
  }));
  const base = { user: user.user, arn: user.arn, keys };
  const active = keys.filter((key) => key.active);
  if (active.length === 0) {
    return { ...base, verdict: 'OK', reason: keys.length === 0 ? 'no access keys' : 'no active access key' };
  }
  const idle = active.find((key) => key.idleDays >= rules.unusedDays);
  if (idle) {
    const since = idle.lastUsedAt ? `not used for ${idle.idleDays} days` : `never used in ${idle.ageDays} days`;
    return { ...base, verdict: 'UNUSED', reason: `key ${idle.slot} ${since}: delete it rather than rotate it` };
  }
  const oldest = active.reduce((a, b) => (b.ageDays > a.ageDays ? b : a));
  const two = active.length === 2 ? '; two active keys: the rotation will stop at BLOCKED for a human' : '';
  if (oldest.ageDays >= rules.maxAgeDays) {
    return {
      ...base,
      verdict: 'DUE',
      reason: `key ${oldest.slot} is ${oldest.ageDays} days old (maximum ${rules.maxAgeDays})${two}`,
    };
  }
  // Two active keys need a human whatever their age (a half-finished rotation, or a second
  // consumer): DUE, as the README says, so the scan shows it rather than calling it OK.
  if (active.length === 2) {
    const ages = active.map((key) => `key ${key.slot} ${key.ageDays} days old`).join(', ');
    return {
      ...base,
      verdict: 'DUE',
      reason: `two active keys (${ages}): the rotation will stop at BLOCKED for a human`,
    };
  }
  if (oldest.ageDays >= rules.warnDays) {
    return {
      ...base,
      verdict: 'WARN',
      reason: `key ${oldest.slot} is ${oldest.ageDays} days old; due at ${rules.maxAgeDays}`,
    };
  }
  return { ...base, verdict: 'OK', reason: `oldest active key ${oldest.ageDays} days old` };
}

/**
 * Scan one account: the credential report (generate, poll, get: two or three calls whatever
 * the number of users), a verdict per user with keys, and the exemption tag read only for
 * users that are not OK (one ListUserTags each), so a healthy fleet costs two calls.
 */
export async function scanAccount(
  iam: IAMClient,
  account: string,
  rules: ScanRules,
  options: { progress?: (line: string) => void; pollMs?: number } = {},
): Promise<ScannedUser[]> {
  const report = await readCredentialReport(iam, options);
  const scanned: ScannedUser[] = [];
  const inPath = (arn: string) => !rules.scope || arn.includes(`:user${rules.scope.userPath}`);
  for (const user of report.filter((candidate) => candidate.keys.length > 0 && inPath(candidate.arn))) {
    const judged = { account, ...judge(user, rules) };
    if (judged.verdict !== 'OK') {
      const tags = await readTags(iam, user.user, rules.scope?.userTag);
      if (!tags) continue;
      const exemption = tags.Tags?.find((tag) => tag.Key === rules.exemptTag);
      if (exemption) {
        scanned.push({ ...judged, verdict: 'EXEMPT', reason: `exempt: ${exemption.Value || 'no reason given'}` });
        continue;
      }
    }
    scanned.push(judged);
  }
  return scanned;
}

/**
 * A user's tags, or undefined when the user is not one keyrot manages: without the managed
 * tag, or (with the tag condition on the role) not even readable.
 */
async function readTags(iam: IAMClient, userName: string, managedTag: string | undefined) {
  try {
    const { Tags = [] } = await iam.send(new ListUserTagsCommand({ UserName: userName }));
    if (managedTag && !Tags.some((tag) => tag.Key === managedTag && tag.Value === 'true')) return undefined;
    return { Tags };
  } catch (error) {
    if (managedTag && ['AccessDenied', 'AccessDeniedException'].includes((error as Error).name)) return undefined;
    throw error;
  }
}

/** How many users got each verdict. */
export function countVerdicts(users: ScannedUser[]): Record<Verdict, number> {
  const counts: Record<Verdict, number> = { OK: 0, WARN: 0, DUE: 0, EXEMPT: 0, UNUSED: 0 };
  for (const user of users) counts[user.verdict] += 1;
  return counts;
}

/**
 * Scan this account and every member account (through its member role): the users with keys
 * and their verdicts, and which account is ours.
 */
export async function scanAccounts(
  deps: { iam: IAMClient; sts: STSClient },
  config: AccountSettings,
  rules: ScanRules,
  progress: (line: string) => void = () => {},
): Promise<{ own: string; accounts: string[]; users: ScannedUser[]; unscanned: Unscanned[] }> {
  const { own, all } = await accountIds(deps.sts, config);
  const users: ScannedUser[] = [];
  const unscanned: Unscanned[] = [];
  for (const account of all) {
    try {
      const iam = account === own ? deps.iam : await iamFor(deps.sts, account, own, config);
      const found = await scanAccount(iam, account, rules, { progress: (line) => progress(`${account}: ${line}`) });
      progress(`${account}: ${found.length} user(s) with keys`);
      users.push(...found);
    } catch (error) {
      // One member without its role (a new account, a failed member deploy) must not stop the
      // scan of every other account; our own account failing is a failure of the scan.
      if (account === own) throw error;
      const reason = `${(error as Error).name}: ${(error as Error).message}`.slice(0, 300);
      progress(`${account}: not scanned (${reason})`);
      unscanned.push({ account, reason });
    }
  }
  return { own, accounts: all, users, unscanned };
}

/** A member account the scan could not read, and why. */
export interface Unscanned {
  account: string;
  reason: string;
}
