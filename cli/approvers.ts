import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { CognitoIdentityProviderClient } from '@aws-sdk/client-cognito-identity-provider';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { Command } from 'commander';
import { table } from '../audit/render';
import { printable } from '../handlers/shared/printable';
import {
  addApprover,
  ApproverExistsError,
  ApproverNotFoundError,
  ApproverPoolNotFoundError,
  listApprovers,
  LOCAL_APPROVER_POOL_NAME,
  poolsNamed,
  removeApprover,
  validateApprover,
  validatePoolId,
  validateUsername,
  type Approver,
} from '../handlers/domain/approvers';
import { BASE_DELAY_SECONDS, FREE_ATTEMPTS, unlockIdentity } from '../handlers/domain/sign-in-throttle';
import { clients, settings } from '../handlers/shared/clients';
import { InvalidInputError } from '../handlers/shared/errors';
import { LOCAL_APPROVALS_TABLE } from '../local/seed';
import { readServerInfo } from '../local/store';
import { CommandError } from './executions';
import { EXIT_CODES } from './outcome';

/** Where the approvers' pool is looked for, in order. */
export interface PoolOptions {
  poolId?: string;
  /** The approvals table that holds keyrot's approver directory. */
  table?: string;
  stack: string;
  local?: boolean;
}

/** A user pool id and where it came from, so errors can say which one was used. */
interface Pool {
  id: string;
  from: string;
}

const POOL_ENV = 'KEYROT_APPROVER_POOL_ID';
const POOL_OUTPUT = 'ApproverPoolId';
const URL_OUTPUT = 'ApprovalUrl';
const TABLE_ENV = 'KEYROT_APPROVALS_TABLE';
const TABLE_OUTPUT = 'ApprovalsTableName';

// Created per command, after --region/--profile have reached the environment.
const cognitoClient = () => new CognitoIdentityProviderClient({ maxAttempts: 4 });
const ddbClient = () => DynamoDBDocumentClient.from(new DynamoDBClient({ maxAttempts: 4 }));

/** Commander's error for an operator: the one line keyrot prints, with the exit code for it. */
function commandError(error: unknown, pool?: Pool): unknown {
  if (error instanceof InvalidInputError) return new CommandError(error.message, EXIT_CODES.INVALID);
  if (error instanceof ApproverExistsError) return new CommandError(error.message, EXIT_CODES.CONFLICT);
  if (error instanceof ApproverNotFoundError) return new CommandError(error.message, EXIT_CODES.NOT_FOUND);
  if (error instanceof ApproverPoolNotFoundError) {
    return new CommandError(`${error.message}${pool ? ` (from ${pool.from})` : ''}`, EXIT_CODES.NOT_FOUND);
  }
  return error;
}

/** The value of the deployed stack's output `key` (the pool id by default), or why there is none. */
async function stackOutput(stack: string, key: string = POOL_OUTPUT): Promise<{ id?: string; miss?: string }> {
  try {
    const described = await new CloudFormationClient({ maxAttempts: 4 }).send(
      new DescribeStacksCommand({ StackName: stack }),
    );
    const id = described.Stacks?.[0]?.Outputs?.find((output) => output.OutputKey === key)?.OutputValue;
    return id ? { id } : { miss: `stack ${stack} has no output ${key}` };
  } catch (error) {
    // CloudFormation answers ValidationError for a stack that does not exist; anything else
    // (no credentials, access denied) is the operator's to see as it is.
    if ((error as Error).name === 'ValidationError') return { miss: `stack ${stack}: ${(error as Error).message}` };
    throw error;
  }
}

/**
 * Find the approvers' user pool: --pool-id, else $KEYROT_APPROVER_POOL_ID, else the deployed
 * stack's ApproverPoolId output, or with --local the pool local mode seeds in the local AWS.
 */
export async function resolvePool(options: PoolOptions): Promise<Pool> {
  try {
    return await findPool(options);
  } catch (error) {
    throw commandError(error);
  }
}

async function findPool(options: PoolOptions): Promise<Pool> {
  if (options.poolId) return { id: validatePoolId(options.poolId), from: '--pool-id' };
  const fromEnv = process.env[POOL_ENV];
  if (fromEnv) return { id: validatePoolId(fromEnv), from: `$${POOL_ENV}` };
  const tried = ['--pool-id (not given)', `$${POOL_ENV} (not set)`];
  if (options.local) {
    const endpoint = process.env.AWS_ENDPOINT_URL;
    if (!endpoint) {
      throw new CommandError(
        `--local looks for the pool local mode seeds in the local AWS: set AWS_ENDPOINT_URL (or pass --pool-id)`,
        EXIT_CODES.INVALID,
      );
    }
    const ids = await poolsNamed(cognitoClient(), LOCAL_APPROVER_POOL_NAME);
    if (ids.length === 1) return { id: ids[0] ?? '', from: `the local pool ${LOCAL_APPROVER_POOL_NAME}` };
    if (ids.length > 1) {
      throw new CommandError(
        `${ids.length} user pools are named ${LOCAL_APPROVER_POOL_NAME} at ${endpoint} (${ids.join(', ')}): pass --pool-id`,
        EXIT_CODES.CONFLICT,
      );
    }
    tried.push(`a pool named ${LOCAL_APPROVER_POOL_NAME} at ${endpoint} (none)`);
  } else {
    const output = await stackOutput(options.stack);
    if (output.id) return { id: validatePoolId(output.id), from: `stack ${options.stack} output ${POOL_OUTPUT}` };
    tried.push(output.miss ?? `stack ${options.stack}`);
  }
  throw new CommandError(`no approvers' user pool found; tried ${tried.join('; ')}`, EXIT_CODES.NOT_FOUND);
}

/**
 * The approvals table that holds the approver directory: --table, else $KEYROT_APPROVALS_TABLE,
 * else with --local the table local mode seeds, else the deployed stack's ApprovalsTableName output.
 */
async function resolveTable(options: PoolOptions): Promise<string> {
  if (options.table) return options.table;
  const fromEnv = process.env[TABLE_ENV];
  if (fromEnv) return fromEnv;
  if (options.local) return LOCAL_APPROVALS_TABLE;
  const output = await stackOutput(options.stack, TABLE_OUTPUT);
  if (output.id) return output.id;
  throw new CommandError(
    `no approvals table for the approver directory; tried --table (not given); $${TABLE_ENV} (not set); ${output.miss ?? options.stack}`,
    EXIT_CODES.NOT_FOUND,
  );
}

const utc = (iso: string | undefined) => (iso ? `${iso.slice(0, 19).replace('T', ' ')}` : '-');

/** The approvers as a table, one row each. */
export function approverTable(approvers: Approver[]): string {
  return table([
    ['USERNAME', 'PRINTED NAME', 'EMAIL', 'STATUS', 'ENABLED', 'CREATED (UTC)'],
    ...approvers.map((approver) => [
      // A pool may hold accounts keyrot did not create: table() escapes their text.
      approver.username,
      approver.name || '-',
      approver.email || '-',
      approver.status,
      approver.enabled ? 'yes' : 'no',
      utc(approver.created),
    ]),
  ]);
}

/**
 * Where the approval pages are, if known: $KEYROT_APPROVAL_BASE_URL, else with --local the running
 * local approval server, else the deployed stack's ApprovalUrl output. Only for a hint: a failure
 * to find it is not an error.
 */
async function approvalBaseUrl(options: PoolOptions): Promise<string | undefined> {
  const fromEnv = process.env.KEYROT_APPROVAL_BASE_URL;
  if (fromEnv) return fromEnv;
  if (options.local) return readServerInfo();
  try {
    return (await stackOutput(options.stack, URL_OUTPUT)).id;
  } catch {
    return undefined;
  }
}

/** `keyrot approvers add`: create the account; Cognito e-mails the temporary password. */
export async function add(
  username: string,
  details: { name?: string; email?: string; principalArn?: string },
  options: PoolOptions & { json: boolean },
): Promise<number> {
  // Refuse bad input before any AWS call, the pool lookup included.
  const approver = (() => {
    try {
      return validateApprover({ username, ...details });
    } catch (error) {
      throw commandError(error);
    }
  })();
  const pool = await resolvePool(options);
  const table = await resolveTable(options);
  let created: Approver;
  try {
    created = await addApprover({ cognito: cognitoClient(), ddb: ddbClient() }, { poolId: pool.id, table }, approver);
  } catch (error) {
    throw commandError(error, pool);
  }
  if (options.json) process.stdout.write(`${JSON.stringify({ ...created, poolId: pool.id })}\n`);
  else {
    process.stdout.write(
      `added ${created.username} (${printable(created.name ?? '')}, ${printable(created.email ?? '')}) to user pool ${pool.id}: ${created.status}\n` +
        `  printed name ${printable(approver.name)} recorded in keyrot's approver directory (table ${table}, sub ${created.sub})` +
        `${approver.principalArn ? `, linked to ${approver.principalArn}` : ''}\n` +
        `  Cognito e-mails a temporary password; ${created.username} chooses their own at first sign-in.\n`,
    );
  }
  process.stderr.write(
    `hint: put ${created.username} on the approver allow-list too, or they cannot sign: ` +
      `-c keyrot:approvers=<the current names>,${created.username} on the next cdk deploy (locally: KEYROT_APPROVERS)\n`,
  );
  const base = await approvalBaseUrl(options);
  if (base) {
    // Signing refuses an account still on its temporary password: the approver replaces it on this page first.
    process.stderr.write(
      `hint: ${created.username} sets their own password at ${base.replace(/\/+$/, '')}/password ` +
        '(user name, the temporary password from the e-mail, a new password) before they can sign\n',
    );
  }
  return 0;
}

/** `keyrot approvers list`: every account in the pool. */
export async function list(options: PoolOptions & { json: boolean }): Promise<number> {
  const pool = await resolvePool(options);
  let approvers: Approver[];
  try {
    approvers = await listApprovers(cognitoClient(), pool.id);
  } catch (error) {
    throw commandError(error, pool);
  }
  if (options.json) process.stdout.write(`${JSON.stringify(approvers)}\n`);
  else {
    process.stdout.write(`${approverTable(approvers)}\n`);
    process.stdout.write(`${approvers.length} account(s) in user pool ${pool.id} (${pool.from})\n`);
  }
  return 0;
}

/** `keyrot approvers remove`: delete the account, or with --disable refuse its sign-in. */
export async function remove(
  username: string,
  options: PoolOptions & { json: boolean; disable: boolean },
): Promise<number> {
  try {
    validateUsername(username);
  } catch (error) {
    throw commandError(error);
  }
  const pool = await resolvePool(options);
  try {
    await removeApprover(cognitoClient(), pool.id, username, { disable: options.disable });
  } catch (error) {
    throw commandError(error, pool);
  }
  const done = options.disable ? 'disabled' : 'removed';
  if (options.json) process.stdout.write(`${JSON.stringify({ username, poolId: pool.id, [done]: true })}\n`);
  else process.stdout.write(`${done} ${username} in user pool ${pool.id}\n`);
  return 0;
}

/** `keyrot approvers unlock`: the approver's sign-in attempts are counted from zero again, on every approval. */
export async function unlock(username: string, options: { json: boolean }): Promise<number> {
  let cleared: number;
  try {
    validateUsername(username);
    cleared = await unlockIdentity(clients, settings(), username);
  } catch (error) {
    throw commandError(error);
  }
  if (options.json) process.stdout.write(`${JSON.stringify({ username, approvalsUnlocked: cleared })}\n`);
  else if (cleared === 0) process.stdout.write(`${username} has no counted sign-in attempts: nothing to unlock\n`);
  else process.stdout.write(`unlocked ${username} on ${cleared} approval(s): the next sign-in is not delayed\n`);
  return 0;
}

const EXAMPLES_AND_CODES = `
The pool is --pool-id, else $${POOL_ENV}, else the output ${POOL_OUTPUT} of the
deployed stack (--stack, default Keyrot); with --local, the pool local mode seeds
(${LOCAL_APPROVER_POOL_NAME}) in the local AWS at AWS_ENDPOINT_URL.

Examples:
  keyrot approvers add q.avery --name "Quinn Avery (QA Lead)" --email quinn.avery@example.com
  keyrot approvers list
  keyrot approvers list --local --json
  keyrot approvers remove q.avery --disable
  keyrot approvers unlock q.avery

Exit codes: 0 done, 2 invalid input (nothing changed), 9 no such approver or user pool,
  10 the approver exists already, 1 error`;

/**
 * Register `keyrot approvers add|list|remove|unlock` on the program; `withAws` adds --region/--profile
 * and `awsOptions` applies them, as for every other command.
 */
export function registerApprovers(
  program: Command,
  aws: {
    withAws: (command: Command) => Command;
    awsOptions: (options: { region?: string; profile?: string }) => void;
  },
): void {
  const group = program
    .command('approvers')
    .description("Onboard and offboard approvers: the accounts in the approvers' Cognito user pool.")
    .addHelpText('after', EXAMPLES_AND_CODES);
  const withPool = (command: Command) =>
    aws.withAws(
      command
        .option('--pool-id <id>', `the approvers' user pool (default $${POOL_ENV}, else the stack's output)`)
        .option('--stack <name>', `the deployed stack whose output ${POOL_OUTPUT} names the pool`, 'Keyrot')
        .option(
          '--table <name>',
          `the approvals table holding keyrot's approver directory (default $${TABLE_ENV}, else the stack's output ${TABLE_OUTPUT})`,
        )
        .option(
          '--local',
          `the pool local mode seeds (${LOCAL_APPROVER_POOL_NAME}) in the local AWS (AWS_ENDPOINT_URL)`,
        )
        .option('--json', 'print one JSON document on stdout'),
    );

  withPool(
    group
      .command('add')
      .description(
        'Create an approver with the printed name an administrator sets; Cognito e-mails a temporary password.',
      )
      .argument('<username>', 'the user name they sign with (1-128 of A-Z a-z 0-9 . _ @ + -)')
      .requiredOption('--name <printed name>', 'the printed name on their signatures (21 CFR 11.50), 1-256 characters')
      .requiredOption('--email <address>', 'where Cognito sends the invitation with the temporary password')
      .option(
        '--principal <arn>',
        'the IAM user or role ARN this approver also acts as: they may never approve a rotation it requested',
      ),
  )
    .addHelpText(
      'after',
      `
No password is set or printed: the approver chooses one at first sign-in, on the page
<approval URL>/password (status FORCE_CHANGE_PASSWORD until then; the URL is printed when
known). The printed name is the administrator's to set: keyrot keeps it in its own approver
directory (the approvals table, by the account's sub) and signatures print it from there, so an
approver who rewrites their own Cognito "name" changes nothing keyrot records.
To sign, the user name must also be on the allow-list (-c keyrot:approvers=<names>).
${EXAMPLES_AND_CODES}`,
    )
    .action(async (username: string, options) => {
      aws.awsOptions(options);
      process.exitCode = await add(
        username,
        { name: options.name, email: options.email, principalArn: options.principal },
        { ...options, json: Boolean(options.json) },
      );
    });

  withPool(group.command('list').description('List every account in the pool: name, e-mail, status, created.'))
    .addHelpText('after', EXAMPLES_AND_CODES)
    .action(async (options) => {
      aws.awsOptions(options);
      process.exitCode = await list({ ...options, json: Boolean(options.json) });
    });

  withPool(
    group
      .command('remove')
      .description('Delete an approver from the pool (or --disable: keep the account, refuse its sign-in).')
      .argument('<username>', 'the approver to remove')
      .option('--disable', 'disable the account instead of deleting it'),
  )
    .addHelpText(
      'after',
      `
Signatures already recorded keep the printed name and user id they were made with.
Remove the name from the allow-list (keyrot:approvers) too.
${EXAMPLES_AND_CODES}`,
    )
    .action(async (username: string, options) => {
      aws.awsOptions(options);
      process.exitCode = await remove(username, {
        ...options,
        json: Boolean(options.json),
        disable: Boolean(options.disable),
      });
    });

  aws
    .withAws(
      group
        .command('unlock')
        .description("Clear an approver's throttled sign-in attempts, on every approval, so they can sign at once.")
        .argument('<username>', 'the approver (matched as sign-in counts it: case and spacing do not matter)')
        .option('--json', 'print one JSON document on stdout'),
    )
    .addHelpText(
      'after',
      `
Signing counts sign-in attempts per user name and approval: after ${FREE_ATTEMPTS} attempts each
further one waits (${BASE_DELAY_SECONDS} s, doubling, at most 1% of the approval's lifetime).
unlock sets those counts to zero in the approvals table (KEYROT_APPROVALS_TABLE); the failed
attempts stay on the approval records. It does not change the account or its password.

Examples:
  keyrot approvers unlock system-owner
  keyrot approvers unlock system-owner --json

Exit codes: 0 done (also when nothing was counted), 2 invalid input (nothing changed), 1 error`,
    )
    .action(async (username: string, options) => {
      aws.awsOptions(options);
      process.exitCode = await unlock(username, { json: Boolean(options.json) });
    });
}
