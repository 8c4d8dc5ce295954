import { table, toCsv } from '../audit/render';
import { accountSettings, type AccountSettings } from '../handlers/domain/accounts';
import { countVerdicts, scanAccounts, type ScannedUser, type ScanRules } from '../handlers/domain/scan';
import { startRotation } from '../handlers/domain/start-rotation';
import { clients } from '../handlers/shared/clients';
import { CommandError } from './executions';
import { executionName } from '../handlers/domain/start-rotation';
import { ExecutionInput } from '../handlers/shared/schemas';
import { precheck } from './plan';

export interface ScanOptions {
  rules: ScanRules;
  format: 'text' | 'json' | 'csv';
  /** Start a rotation (on the deployed state machine) for every DUE user. */
  start: boolean;
  /** With `start`: say what would start, with Detect's verdict for each, and start nothing. */
  dryRun?: boolean;
  stateMachineArn?: string;
  accounts?: AccountSettings;
}

const keyText = (user: ScannedUser) =>
  user.keys
    .map(
      (key) =>
        `#${key.slot} ${key.active ? 'active' : 'inactive'} ${key.ageDays}d, ${key.lastUsedAt ? `used ${key.idleDays}d ago` : 'never used'}`,
    )
    .join('; ');

/** `keyrot scan`: verdicts for the whole fleet; `--start` starts the day's rotation of every DUE user. */
export async function scan(options: ScanOptions): Promise<number> {
  if (options.start && !options.dryRun && !options.stateMachineArn) {
    throw new CommandError(
      '--start starts executions of the deployed state machine: pass --state-machine-arn or set KEYROT_STATE_MACHINE_ARN (locally, run keyrot rotate <user> --local)',
      2,
    );
  }
  const config = options.accounts ?? accountSettings();
  const { own, users, unscanned } = await scanAccounts(clients, config, options.rules, (line) =>
    process.stderr.write(`keyrot: ${line}\n`),
  );
  for (const miss of unscanned)
    process.stderr.write(`keyrot: warning: account ${miss.account} was not scanned: ${miss.reason}\n`);
  const rows = users.map((user) => [user.account, user.user, user.verdict, keyText(user), user.reason]);
  if (options.format === 'json') process.stdout.write(`${JSON.stringify(users)}\n`);
  else if (options.format === 'csv') {
    const header = ['account', 'user', 'verdict', 'keys', 'reason'];
    process.stdout.write(toCsv([header, ...rows]));
  } else {
    process.stdout.write(`${table([['ACCOUNT', 'USER', 'VERDICT', 'KEYS', 'REASON'], ...rows])}\n`);
    const counts = countVerdicts(users);
    process.stdout.write(
      `${users.length} user(s) with keys: ${Object.entries(counts)
        .map(([verdict, n]) => `${n} ${verdict}`)
        .join(', ')} (as of ${options.rules.asOf.toISOString()})\n`,
    );
  }
  if (options.start && options.dryRun) {
    for (const user of users.filter((candidate) => candidate.verdict === 'DUE')) {
      const account = user.account === own ? undefined : user.account;
      process.stderr.write(`keyrot: ${await wouldStart(user.user, account)}\n`);
    }
    process.stderr.write('keyrot: dry run: nothing was started\n');
  } else if (options.start) {
    for (const user of users.filter((candidate) => candidate.verdict === 'DUE')) {
      const started = await startRotation(
        clients.sfn,
        options.stateMachineArn ?? '',
        { userName: user.user, ...(user.account === own ? {} : { account: user.account }) },
        new Date(),
      );
      process.stderr.write(
        `keyrot: ${started.started ? 'started' : 'already started in this window'}: ${started.name}\n`,
      );
    }
  }
  return users.some((user) => user.verdict === 'DUE') ? 3 : 0;
}

/** One dry-run line: the execution the start would create and what its Detect step would decide. */
async function wouldStart(userName: string, account: string | undefined): Promise<string> {
  const name = executionName(userName, new Date(), 1, account);
  try {
    const state = await precheck(ExecutionInput.parse({ userName, ...(account ? { account } : {}) }));
    return `would start ${name}: ${state.detection.decision}: ${state.detection.reason}`;
  } catch (error) {
    return `would start ${name}: its Detect step would fail: ${(error as Error).message}`;
  }
}
