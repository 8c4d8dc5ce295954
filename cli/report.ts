import { table, toCsv } from '../audit/render';
import { readCredentialReport } from '../handlers/domain/credential-report';
import { listKeys, readChain } from '../handlers/domain/archive';
import { accountOf } from '../handlers/domain/execution-record';
import { clients } from '../handlers/shared/clients';
import { CommandError } from './executions';

const DAY_MS = 86_400_000;

/** One user in the fleet view. */
export interface FleetRow {
  user: string;
  keys: { slot: number; active: boolean; ageDays: number; createdAt: string; lastUsedAt: string | null }[];
  oldestActiveDays: number | null;
  overdue: boolean;
  lastRotation: { at: string; outcome: string; executionArn: string } | null;
}

/**
 * The fleet view: every user with keys, their ages, the last rotation keyrot archived for
 * them and whether they are overdue. Ages come from the credential report; rotations from
 * the heads of the archive's chains (one read per user that has any).
 */
export async function fleet(options: { maxAgeDays: number; asOf: Date; bucket?: string }): Promise<FleetRow[]> {
  const users = await readCredentialReport(clients.iam, {
    progress: (line) => process.stderr.write(`keyrot: ${line}\n`),
  });
  const withKeys = users.filter((user) => user.keys.length > 0);
  const heads = new Map<string, FleetRow['lastRotation']>();
  if (options.bucket) {
    const account = accountOf(withKeys[0]?.arn ?? '');
    const archived = new Set(
      (await listKeys(clients.s3, options.bucket, `chain/${account}/`)).map((key) => key.split('/')[2]),
    );
    for (const user of withKeys.filter((candidate) => archived.has(candidate.user))) {
      const rotated = (await readChain(clients.s3, options.bucket, account, user.user)).findLast(
        (entry) => entry.outcome === 'ROTATED',
      );
      if (rotated) {
        heads.set(user.user, {
          at: rotated.stopDate ?? '',
          outcome: rotated.outcome,
          executionArn: rotated.executionArn,
        });
      }
    }
  }
  return withKeys.map((user) => {
    const keys = user.keys.map((key) => ({
      slot: key.slot,
      active: key.active,
      ageDays: Math.floor((options.asOf.getTime() - Date.parse(key.createdAt)) / DAY_MS),
      createdAt: key.createdAt,
      lastUsedAt: key.lastUsedAt,
    }));
    const active = keys.filter((key) => key.active).map((key) => key.ageDays);
    const oldest = active.length > 0 ? Math.max(...active) : null;
    return {
      user: user.user,
      keys,
      oldestActiveDays: oldest,
      overdue: oldest !== null && oldest > options.maxAgeDays,
      lastRotation: heads.get(user.user) ?? null,
    };
  });
}

/** `keyrot report`: print the fleet view; exit 3 when any user is overdue, so a schedule can alert. */
export async function report(options: {
  maxAgeDays: number;
  asOf: Date;
  bucket?: string;
  format: 'text' | 'json' | 'csv';
}): Promise<number> {
  if (Number.isNaN(options.asOf.getTime())) throw new CommandError('--as-of is not a date', 2);
  const rows = await fleet(options);
  const keyText = (row: FleetRow) =>
    row.keys.map((key) => `#${key.slot} ${key.active ? 'active' : 'inactive'} ${key.ageDays}d`).join(', ');
  const lines: string[][] = rows.map((row) => [
    row.user,
    keyText(row),
    row.oldestActiveDays === null ? '-' : String(row.oldestActiveDays),
    row.lastRotation ? `${row.lastRotation.at.slice(0, 10)} ${row.lastRotation.outcome}` : 'never (by keyrot)',
    row.overdue ? 'OVERDUE' : 'ok',
  ]);
  if (options.format === 'json') process.stdout.write(`${JSON.stringify(rows)}\n`);
  else if (options.format === 'csv') {
    const header = ['user', 'keys', 'oldest_active_days', 'last_rotation', 'status'];
    process.stdout.write(toCsv([header, ...lines]));
  } else {
    process.stdout.write(`${table([['USER', 'KEYS', 'OLDEST', 'LAST ROTATION', 'STATUS'], ...lines])}\n`);
    const overdue = rows.filter((row) => row.overdue).length;
    process.stdout.write(
      `${rows.length} user(s) with keys; ${overdue} overdue (older than ${options.maxAgeDays} days as of ${options.asOf.toISOString()})\n`,
    );
  }
  return rows.some((row) => row.overdue) ? 3 : 0;
}
