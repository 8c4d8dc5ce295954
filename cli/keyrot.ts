import { userInfo } from 'node:os';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { listApprovals, signFromTerminal } from './approve';
import { registerApprovers } from './approvers';
import { auditExecution, auditUser, exportPublicKey, verify, type HistorySource } from './audit';
import { confirmConsumer } from './confirm';
import { demo } from './demo';
import { doctor } from './doctor';
import { apiSource, CommandError, localSource } from './executions';
import { abort, list, status } from './operate';
import { EXIT_CODES } from './outcome';
import { printable } from '../handlers/shared/printable';
import { terminalOutput } from './output';
import { report } from './report';
import { resume } from './resume';
import { scan } from './scan';
import { accountSettings } from '../handlers/domain/accounts';
import { rotate } from './rotate';
import { FORMATS } from '../audit/render';

const integer = (name: string) => (value: string) => {
  if (!/^\d+$/.test(value)) throw new InvalidArgumentError(`${name} must be a whole number, got "${value}"`);
  return Number(value);
};

const date = (name: string) => (value: string) => {
  const parsed = new Date(value);
  if (Number.isNaN(parsed.getTime()))
    throw new InvalidArgumentError(`${name} must be a date (2026-11-01 or ISO-8601), got "${value}"`);
  return parsed;
};

const accountList = (value: string): string[] | 'organizations' => {
  if (value === 'organizations') return value;
  const ids = value.split(',').map((id) => id.trim());
  const bad = ids.filter((id) => !/^\d{12}$/.test(id));
  if (bad.length > 0) throw new InvalidArgumentError(`account ids are 12 digits; not: ${bad.join(', ')}`);
  return ids;
};

/** Apply --region/--profile the way the AWS CLI does: through the SDK's own environment. */
function awsOptions(options: { region?: string; profile?: string }): void {
  if (options.region) process.env.AWS_REGION = options.region;
  if (options.profile) process.env.AWS_PROFILE = options.profile;
}

/** --region and --profile, as every AWS-touching command takes them. */
function withAws(command: Command): Command {
  return command
    .option('--region <region>', 'AWS region, as the AWS CLI takes it')
    .option('--profile <profile>', 'AWS shared-config profile, as the AWS CLI takes it');
}

/** --local / --state-machine-arn: which executions a command looks at. */
function withSource(command: Command): Command {
  return withAws(
    command
      .option('--local', 'local runs (keyrot rotate --local) in $KEYROT_HOME instead of the deployed state machine')
      .option('--state-machine-arn <arn>', 'the deployed state machine (default $KEYROT_STATE_MACHINE_ARN)'),
  );
}

const sourceFor = (options: { local?: boolean; stateMachineArn?: string }) =>
  options.local ? localSource() : apiSource(options.stateMachineArn ?? process.env.KEYROT_STATE_MACHINE_ARN);

const program = new Command()
  .name('keyrot')
  .description('Rotate IAM user access keys through a Step Functions workflow with approval, rollback and audit.')
  .showHelpAfterError('(run with --help for usage)')
  // Usage errors exit 2 like other invalid input, not Commander's default 1.
  .exitOverride()
  .addHelpText(
    'after',
    `
Environment:
  AWS_ENDPOINT_URL        send every AWS call there (the local AWS, moto); unset means real AWS
  KEYROT_STATE_MACHINE_ARN  the deployed rotation state machine (or --state-machine-arn)
  KEYROT_HOME             where local runs keep their history (default ./.keyrot)
  KEYROT_ARCHIVE_BUCKET   the evidence archive (S3, Object Lock) that audit, verify and report read
  KEYROT_DEBUG            print stack traces with errors`,
  );

program
  .command('rotate')
  .description('Rotate the access key of one IAM user.')
  .argument('<user>', 'IAM user name')
  .option('--local', 'run the workflow here with the local engine (AWS_ENDPOINT_URL, or real AWS when unset)')
  .option('--force', 'rotate even if the key is not due yet')
  .option('--as-of <time>', 'judge key age as of this ISO-8601 time instead of now')
  .option('--json', 'print one JSON object and nothing else on stdout')
  .option('--max-age-days <days>', 'rotate keys at least this old', integer('--max-age-days'))
  .option('--rotation-approval', 'require an approval before a key is created')
  .option('--no-deletion-approval', 'delete the old key without the approval gate')
  .addOption(
    new Option('--validation <mode>', 'how the consumer confirms it uses the new key').choices([
      'none',
      'last-used',
      'callback',
    ]),
  )
  .option(
    '--validation-timeout <seconds>',
    'give up waiting for the consumer after this long',
    integer('--validation-timeout'),
  )
  .option('--poll <seconds>', 'seconds between last-used checks', integer('--poll'))
  .option('--grace <seconds>', 'seconds between deactivating and deleting the old key', integer('--grace'))
  .option('--auto-approve <name>', 'local mode: sign every gate as approver <name> without review (demos, tests)')
  .option('--skip-waits', 'local mode: make waits and retry pauses instant')
  .option('--onboard', 'the key is in no secret yet: store the new key in a new secret (needs validation)')
  .option('--dry-run', "print the plan (Detect's checks and every step it would take) and change nothing")
  .option('--user-path <path>', 'managed IAM path (default $KEYROT_USER_PATH, else cdk.json keyrot:userPath)')
  .option('--user-tag <tag>', 'manage only users tagged <tag>=true (default $KEYROT_USER_TAG, else cdk.json)')
  .option('--state-machine-arn <arn>', 'the deployed state machine (default $KEYROT_STATE_MACHINE_ARN)')
  .option('--region <region>', 'AWS region, as the AWS CLI takes it')
  .option('--profile <profile>', 'AWS shared-config profile, as the AWS CLI takes it')
  .addHelpText(
    'after',
    `
Before anything starts (and again in the Detect step) keyrot checks that the user is managed
(path and tag), that the secret <prefix><user> exists and its AWSCURRENT holds the active key
in a shape keyrot reads, and that the topic, approvals table and link key answer. The secret
may be {"accessKeyId","secretAccessKey"}, {"AWS_ACCESS_KEY_ID","AWS_SECRET_ACCESS_KEY"},
{"aws_access_key_id","aws_secret_access_key"} or {"AccessKeyId","SecretAccessKey"}, with other
fields beside it; a new version keeps the shape and the other fields. The tag
keyrot:secret-format=keyrot|env|credentials|iam (on the secret or the user) fixes the shape.

Examples:
  keyrot rotate build-bot --dry-run             the plan: checks, what would be created and deleted
  keyrot rotate build-bot --local --onboard     the key is in no secret yet: the new one goes into one
  keyrot rotate build-bot                       start on the deployed state machine and follow it
  keyrot rotate build-bot --local               run the workflow here; the deletion gate prints a link
                                                to the local approval page (or use keyrot approve)
  keyrot rotate build-bot --local --force --no-deletion-approval --json

Exit codes:
  0 ROTATED or SKIPPED   2 invalid input or unknown user   3 SKIPPED: BLOCKED, a human must decide
  4 REJECTED   5 ROLLED_BACK   6 ROLLBACK_FAILED (needs a human)   7 other failure   1 error
  10 a rotation of this user is already running (the message names it)
  13 SKIPPED by a precondition: SECRET_MISSING, SECRET_MISMATCH, SECRET_FORMAT or NOT_MANAGED
  14 misconfigured: a table, topic, link key, region or endpoint the rotation needs is wrong
  (nothing is created in either case; --dry-run exits as the rotation would, 0 when it would rotate)`,
  )
  .action(async (user: string, options) => {
    awsOptions(options);
    const config: Record<string, unknown> = {};
    if (options.maxAgeDays !== undefined) config.maxAgeDays = options.maxAgeDays;
    if (options.rotationApproval) config.approveRotation = true;
    if (options.deletionApproval === false) config.approveDeletion = false;
    if (options.validation) config.validationMode = options.validation;
    if (options.validationTimeout !== undefined) config.validationTimeoutSeconds = options.validationTimeout;
    if (options.poll !== undefined) config.validationPollSeconds = options.poll;
    if (options.grace !== undefined) config.graceSeconds = options.grace;
    process.exitCode = await rotate(
      user,
      {
        local: Boolean(options.local),
        force: Boolean(options.force),
        asOf: options.asOf,
        json: Boolean(options.json),
        config,
        autoApprove: options.autoApprove,
        stateMachineArn: options.stateMachineArn,
        skipWaits: Boolean(options.skipWaits),
        onboard: Boolean(options.onboard),
        dryRun: Boolean(options.dryRun),
        userPath: options.userPath,
        userTag: options.userTag,
      },
      terminalOutput(Boolean(options.json)),
    );
  });

for (const [verb, meaning] of [
  ['approve', 'APPROVED'],
  ['reject', 'REJECTED'],
] as const) {
  program
    .command(verb)
    .description(
      `${verb === 'approve' ? 'Approve' : 'Reject'} a waiting approval, signing with your user name and password.`,
    )
    .argument('<approval>', 'the approval link from the notification, or its approval id')
    .requiredOption('--as <user>', 'your user name in the approvers user pool')
    .requiredOption('--reason <text>', 'why; recorded in the signature')
    .option(
      '--url <base>',
      'the approval endpoint when only an id is given (default $KEYROT_APPROVAL_BASE_URL or the running local server)',
    )
    .option('--json', 'print the result as one JSON object')
    .option('--region <region>', 'AWS region, as the AWS CLI takes it')
    .option('--profile <profile>', 'AWS shared-config profile, as the AWS CLI takes it')
    .addHelpText(
      'after',
      `
The password is read from the terminal without echo, or from KEYROT_APPROVER_PASSWORD for automation.
The decision goes through the same endpoint and rules as the approval page in a browser.

Examples:
  keyrot ${verb} 'https://…/approvals/3f…?sig=…' --as quality-approver --reason "CR-1042"
  keyrot ${verb} 3f2a…c9 --as quality-approver --reason "CR-1042"

After the rotation has ended (or its process is gone) a local link has nothing behind it: keyrot says the
rotation is no longer waiting, names the approval and execution and how it ended, and exits 15.

Exit codes: 0 signed, 4 refused (expired, already decided, not allowed), 5 sign-in refused or
throttled (try again after the time it names), 15 no longer waiting (the rotation ended), 1 error`,
    )
    .action(async (approval: string, options) => {
      awsOptions(options);
      process.exitCode = await signFromTerminal(approval, { ...options, meaning, json: Boolean(options.json) });
    });
}

withAws(
  program
    .command('approvals')
    .description('List the approvals waiting for a decision.')
    .option('--json', 'print them as one JSON array'),
)
  .addHelpText(
    'after',
    `
Reads the approvals table (KEYROT_APPROVALS_TABLE); task tokens are never shown.

Examples:
  keyrot approvals
  keyrot approvals --json | jq '.[].approvalId'`,
  )
  .action(async (options) => {
    awsOptions(options);
    process.exitCode = await listApprovals({ json: Boolean(options.json) });
  });

registerApprovers(program, { withAws, awsOptions });

withSource(
  program
    .command('confirm')
    .description(
      "Prove a consumer runs on the new key (callback validation): sign GetCallerIdentity with the secret's AWSCURRENT.",
    )
    .argument('<execution>', 'the waiting execution: its name or ARN')
    .option(
      '--url <base>',
      'the approval endpoint (default $KEYROT_APPROVAL_BASE_URL, or the running local server with --local)',
    )
    .option('--json', "print the endpoint's answer as one JSON object"),
)
  .addHelpText(
    'after',
    `
Reads AWSCURRENT of the user's secret, signs an STS GetCallerIdentity request with it and posts
only the signed request (never the secret) to <url>/confirm/<id>. keyrot replays it to STS and
accepts it when STS answers with the user's own ARN, the credential names the new key and the
signature is under 5 minutes old. Run it where the consumer runs, with its access to the secret.

Examples:
  keyrot confirm build-bot-20261123 --local
  keyrot confirm arn:aws:states:eu-west-1:111122223333:execution:Keyrot-rotation:build-bot-20261123

Exit codes: 0 confirmed, 4 refused (wrong key, stale, not waiting any more), 9 no such execution, 1 error`,
  )
  .action(async (execution: string, options) => {
    awsOptions(options);
    process.exitCode = await confirmConsumer(execution, {
      ...options,
      local: Boolean(options.local),
      json: Boolean(options.json),
    });
  });

withSource(
  program
    .command('status')
    .description('Show where a rotation stands (current step, how long, waiting for approval) or how it ended.')
    .argument('<execution>', 'execution name (as rotate and list print it) or full ARN')
    .option('--json', 'print one JSON object'),
)
  .addHelpText(
    'after',
    `
Examples:
  keyrot status build-bot-20261123
  keyrot status build-bot-20261123 --local --json

Exit codes: 0 running or ended ROTATED/SKIPPED; otherwise the outcome's code (see keyrot rotate --help); 9 not found`,
  )
  .action(async (id: string, options) => {
    awsOptions(options);
    process.exitCode = await status(sourceFor(options), id, { json: Boolean(options.json) });
  });

withSource(
  program
    .command('list')
    .description('List rotations, newest first.')
    .option('--user <user>', 'only this IAM user')
    .addOption(
      new Option('--status <status>', 'only executions in this status').choices([
        'RUNNING',
        'SUCCEEDED',
        'FAILED',
        'TIMED_OUT',
        'ABORTED',
        'PROCESS_GONE',
      ]),
    )
    .option('--since <date>', 'only executions started at or after this date (UTC)', date('--since'))
    .option('--limit <n>', 'at most this many (default 100)', integer('--limit'), 100)
    .option('--json', 'print one JSON array'),
)
  .addHelpText(
    'after',
    `
Examples:
  keyrot list --status RUNNING
  keyrot list --user build-bot --since 2026-01-01
  keyrot list --local --json`,
  )
  .action(async (options) => {
    awsOptions(options);
    process.exitCode = await list(
      sourceFor(options),
      { user: options.user, status: options.status, since: options.since, limit: options.limit },
      { json: Boolean(options.json) },
    );
  });

withSource(
  program
    .command('abort')
    .description('Stop a running rotation (StopExecution), recording who and why.')
    .argument('<execution>', 'execution name or full ARN')
    .requiredOption('--reason <text>', 'why; recorded in the history as the abort cause')
    .option('--as <name>', 'who aborts (recorded)', userInfo().username)
    .option('--force', 'skip the rollback after a new key was created (two keys remain; it says which)')
    .option('--json', 'print the stopped execution as one JSON object'),
)
  .addHelpText(
    'after',
    `
Once the new key exists, a local abort stops the run (or closes the record of one whose
process died) and runs the rollback, the Roll Back state's own function on the state rebuilt
from the history: the old key stays, the new one is deleted, AWSCURRENT names the old key.
A deployed one is stopped, a Lambda step still in flight is waited for (StopExecution does
not stop it), then the function its Roll Back state names is invoked on the state the history
holds (needs lambda:InvokeFunction on it). Past Delete Old Key it is refused: resume instead.
The closed record is archived (a run whose process died marked incomplete).

Examples:
  keyrot abort build-bot-20261123 --reason "CR-1042 withdrawn"
  keyrot abort build-bot-20261123 --local --reason "demo over"

Exit codes: 0 aborted (and rolled back), 2 refused (see above), 6 the rollback failed (needs a
human), 9 not found, 10 not running or being recovered`,
  )
  .action(async (id: string, options) => {
    awsOptions(options);
    process.exitCode = await abort(sourceFor(options), id, {
      reason: options.reason,
      by: options.as,
      force: Boolean(options.force),
      json: Boolean(options.json),
    });
  });

program
  .command('resume')
  .description('Continue a local rotation whose process died, from the state it never finished (a redrive).')
  .argument('<execution>', 'local execution name (keyrot list --local marks it PROCESS_GONE)')
  .option('--auto-approve <name>', 'sign every gate still ahead as approver <name> without review (demos, tests)')
  .option('--skip-waits', 'make waits and retry pauses instant')
  .option('--json', 'print one JSON object (as keyrot rotate --json) and nothing else on stdout')
  .option('--region <region>', 'AWS region, as the AWS CLI takes it')
  .option('--profile <profile>', 'AWS shared-config profile, as the AWS CLI takes it')
  .addHelpText(
    'after',
    `
The record is closed as FAILED (keyrot.ProcessGone, marked incomplete) and archived; then the
same definition runs from the state that was cut off, with the input it had, and the history
goes on after an ExecutionRedriven event (keyrot audit shows "redriven 1x").

Examples:
  keyrot resume build-bot-20261123
  keyrot resume build-bot-20261123-2 --skip-waits --json

Exit codes: as keyrot rotate (0 ROTATED, 5 ROLLED_BACK, ...); 9 not found; 10 not running,
still running in its process, or being recovered`,
  )
  .action(async (id: string, options) => {
    awsOptions(options);
    process.exitCode = await resume(
      id,
      { json: Boolean(options.json), autoApprove: options.autoApprove, skipWaits: Boolean(options.skipWaits) },
      terminalOutput(Boolean(options.json)),
    );
  });

withSource(
  program
    .command('audit')
    .description('Replay an execution for an auditor: every step, key id and signature, and the outcome.')
    .argument('[execution]', 'execution name or full ARN (or use --user)')
    .addOption(
      new Option('--from <source>', 'where to read the history')
        .choices(['auto', 'api', 'archive', 'local'])
        .default('auto'),
    )
    .addOption(new Option('--format <format>', 'output format').choices([...FORMATS]).default('text'))
    .option('-o, --output <file>', 'write to this file instead of stdout')
    .option('--user <user>', 'list every rotation of this user instead (local store, API and archive)')
    .option('--since <date>', 'with --user: only rotations started at or after this date', date('--since'))
    .option('--bucket <bucket>', 'the evidence archive (default $KEYROT_ARCHIVE_BUCKET)')
    .option(
      '--public-key <file>',
      "check every signature offline with keyrot's public key (PEM, from keyrot public-key); default: from KMS ($KEYROT_SIGNING_KEY_ID)",
    )
    .option('--json', 'with --user: print one JSON array'),
)
  .addHelpText(
    'after',
    `
--from auto reads a local run when one has that name, else the Step Functions API, and falls
back to the evidence archive once Step Functions has forgotten the execution (90 days).
Every format shows the same replay; html is one self-contained file with the state graph and
the path taken highlighted. Each signature shows "verified" (its KMS signature over the
manifest checks with the public key and it names this execution, gate and keys), "FORGED"
with the reason, or "NOT VERIFIED" when no public key was available.

Examples:
  keyrot audit build-bot-20261123
  keyrot audit build-bot-20261123 --from archive --public-key keyrot-signing.pem
  keyrot audit arn:aws:states:…:execution:Keyrot-rotation:build-bot-20260301 --from archive --format html -o audit.html
  keyrot audit --user build-bot --since 2026-01-01

Exit codes: 0 complete and every signature verified; 8 incomplete history or a signature that does not verify; 9 not found`,
  )
  .action(async (id: string | undefined, options) => {
    awsOptions(options);
    const shared = {
      from: options.from as HistorySource,
      format: options.format,
      output: options.output,
      bucket: options.bucket ?? process.env.KEYROT_ARCHIVE_BUCKET,
      stateMachineArn: options.stateMachineArn ?? process.env.KEYROT_STATE_MACHINE_ARN,
      publicKey: options.publicKey,
    };
    if (options.user) {
      process.exitCode = await auditUser(options.user, {
        ...shared,
        since: options.since,
        local: Boolean(options.local) || options.from === 'local',
        json: Boolean(options.json),
      });
    } else if (id) {
      process.exitCode = await auditExecution(id, { ...shared, from: options.local ? 'local' : shared.from });
    } else {
      throw new CommandError('name an execution, or pass --user', EXIT_CODES.INVALID);
    }
  });

withAws(
  program
    .command('verify')
    .description('Check the evidence archive: every record, digest and chain link; tampering fails loudly.')
    .option('--user <user>', "only this user's chain")
    .option('--bucket <bucket>', 'the evidence archive (default $KEYROT_ARCHIVE_BUCKET)')
    .option(
      '--public-key <file>',
      "check every signature offline with keyrot's public key (PEM, from keyrot public-key); default: from KMS ($KEYROT_SIGNING_KEY_ID)",
    )
    .option('--json', 'print the report as one JSON object'),
)
  .addHelpText(
    'after',
    `
Checks each chain entry's SHA-256, its link to the entry before, the record's SHA-256, the
signatures inside each record (each one's KMS signature over its manifest, offline with the
public key), gaps in the sequence, records in no chain, and S3's version list (an overwrite or
delete shows there even when the bytes were made consistent again). Without a public key no
signature verifies.

Examples:
  keyrot public-key > keyrot-signing.pem
  keyrot verify --public-key keyrot-signing.pem
  keyrot verify --user build-bot --json

Exit codes: 0 intact, 8 something changed, missing or out of order, 9 no records for --user`,
  )
  .action(async (options) => {
    awsOptions(options);
    process.exitCode = await verify({
      bucket: options.bucket ?? process.env.KEYROT_ARCHIVE_BUCKET,
      user: options.user,
      json: Boolean(options.json),
      publicKey: options.publicKey,
    });
  });

withAws(
  program
    .command('public-key')
    .description("Print keyrot's signing public key (PEM): what auditors verify signatures with, offline.")
    .option('--key-id <arn>', "the signing key (default $KEYROT_SIGNING_KEY_ID; the stack's output SigningKeyArn)"),
)
  .addHelpText(
    'after',
    `
One KMS GetPublicKey call; the private key never leaves KMS. Hand the file to an auditor:
keyrot verify --public-key <file> and keyrot audit --public-key <file> then need no AWS access
to check a signature.

Examples:
  keyrot public-key > keyrot-signing.pem
  keyrot public-key --key-id arn:aws:kms:eu-west-1:123456789012:key/… > keyrot-signing.pem

Exit codes: 0 printed, 2 no signing key configured`,
  )
  .action(async (options) => {
    awsOptions(options);
    process.exitCode = await exportPublicKey({ keyId: options.keyId });
  });

withAws(
  program
    .command('report')
    .description('The fleet view: every IAM user with keys, key ages, the last keyrot rotation, and who is overdue.')
    .option('--max-age-days <days>', 'overdue past this age (default 90)', integer('--max-age-days'), 90)
    .option('--as-of <date>', 'judge ages as of this time instead of now', date('--as-of'))
    .option('--bucket <bucket>', 'the evidence archive for last rotations (default $KEYROT_ARCHIVE_BUCKET)')
    .addOption(new Option('--format <format>', 'output format').choices(['text', 'json', 'csv']).default('text')),
)
  .addHelpText(
    'after',
    `
Reads the IAM credential report (two calls per account, not one per user).

Examples:
  keyrot report
  keyrot report --format csv > fleet.csv

Exit codes: 0 nobody overdue, 3 someone is overdue, 1 error`,
  )
  .action(async (options) => {
    awsOptions(options);
    process.exitCode = await report({
      maxAgeDays: options.maxAgeDays,
      asOf: options.asOf ?? new Date(),
      bucket: options.bucket ?? process.env.KEYROT_ARCHIVE_BUCKET,
      format: options.format,
    });
  });

withAws(
  program
    .command('scan')
    .description('Judge every IAM user with keys: OK, WARN, DUE, EXEMPT or UNUSED, from the credential report.')
    .option('--warn-days <days>', 'WARN from this key age (default 80)', integer('--warn-days'), 80)
    .option('--max-age-days <days>', 'DUE from this key age (default 90)', integer('--max-age-days'), 90)
    .option(
      '--unused-days <days>',
      'UNUSED when never used or idle this long (default 90)',
      integer('--unused-days'),
      90,
    )
    .option('--exempt-tag <tag>', 'user tag that exempts a user; its value is the reason', 'keyrot:exempt')
    .option('--as-of <date>', 'judge ages as of this time instead of now', date('--as-of'))
    .option(
      '--accounts <ids>',
      'member accounts to scan too: comma-separated ids, or "organizations" (default $KEYROT_ACCOUNTS)',
      accountList,
    )
    .option('--member-role <name>', 'the role assumed in each member account (default KeyrotMember)')
    .option('--external-id <id>', 'the external id the member role requires (default $KEYROT_EXTERNAL_ID)')
    .option('--start', 'start the rotation of every DUE user on the deployed state machine (once per user and day)')
    .option('--dry-run', "with --start: list what would start, with each Detect step's verdict, and start nothing")
    .option('--state-machine-arn <arn>', 'the deployed state machine for --start (default $KEYROT_STATE_MACHINE_ARN)')
    .addOption(new Option('--format <format>', 'output format').choices(['text', 'json', 'csv']).default('text')),
)
  .addHelpText(
    'after',
    `
Reads each account's IAM credential report (generate, wait until ready, get: two or three
calls per account, however many users), and the exemption tag only for users that are not OK.
A user's verdict comes from its oldest active key; inactive keys are listed but never due.
UNUSED (never used, or idle past --unused-days) means delete the key rather than rotate it.
IAM refreshes the report at most every four hours, so a key rotated since may still show as
DUE; --start is safe to repeat, the execution name lets one rotation per user and day through.

Examples:
  keyrot scan
  keyrot scan --format csv > fleet.csv
  keyrot scan --accounts 111122223333,444455556666 --external-id keyrot-7f3a --start
  keyrot scan --start --dry-run                 what --start would start, and what each Detect would decide

Exit codes: 0 nobody DUE, 3 someone is DUE, 1 error`,
  )
  .action(async (options) => {
    awsOptions(options);
    const configured = accountSettings();
    process.exitCode = await scan({
      rules: {
        warnDays: options.warnDays,
        maxAgeDays: options.maxAgeDays,
        unusedDays: options.unusedDays,
        exemptTag: options.exemptTag,
        asOf: options.asOf ?? new Date(),
      },
      format: options.format,
      start: Boolean(options.start),
      dryRun: Boolean(options.dryRun),
      stateMachineArn: options.stateMachineArn ?? process.env.KEYROT_STATE_MACHINE_ARN,
      accounts: {
        accounts: options.accounts ?? configured.accounts,
        roleName: options.memberRole ?? configured.roleName,
        externalId: options.externalId ?? configured.externalId,
      },
    });
  });

withAws(
  program
    .command('doctor')
    .description('Check a deployment after cdk deploy: outputs, resources, approvers, Object Lock, permissions.')
    .option('--stack <name>', 'the deployed keyrot stack', 'Keyrot')
    .option('--user-path <path>', "IAM path of the managed users (default: cdk.json's keyrot:userPath, else /)")
    .option('--secret-prefix <prefix>', "the users' key secrets' prefix (default: cdk.json's, else keyrot/)")
    .option('--user-tag <tag>', 'the deploy manages only users tagged <tag>=true (default: cdk.json keyrot:userTag)')
    .option('--calls <file>', "the handlers' AWS calls to simulate (default infra/handler-calls.json)")
    .option('--json', 'print one JSON object with every check'),
)
  .addHelpText(
    'after',
    `
Reads the deployment from the stack's outputs (DescribeStacks) and checks, in order: every output
present; both state machines, the approvals table and both topics reachable; the approvers pool
has an enabled user, the approval function's allow-list (KEYROT_APPROVERS) is not empty and names
only pool users; the approval link key exists (its value is never read); the evidence bucket's
default retention is COMPLIANCE; each handler role is allowed the calls it makes (IAM
SimulatePrincipalPolicy; SKIP where the endpoint does not implement it). A check that needs a
missing output is SKIP. Progress goes to stderr, the table (a fix under every FAIL) to stdout.

Examples:
  keyrot doctor
  keyrot doctor --stack Keyrot-prod --region eu-west-1 --user-path /service-accounts/
  keyrot doctor --json | jq '.checks[] | select(.status == "FAIL")'

Exit codes: 0 nothing FAILs, 11 at least one check FAILs, 1 error`,
  )
  .action(async (options) => {
    awsOptions(options);
    process.exitCode = await doctor({ ...options, json: Boolean(options.json) });
  });

program
  .command('demo')
  .description('Start a local AWS (moto), seed a service user and rotate its key end to end. No AWS account needed.')
  .option('--json', 'print the rotation result as one JSON object on stdout')
  .addHelpText(
    'after',
    `
Installs moto into .venv on first use, starts it on 127.0.0.1, rotates demo-service with the
deletion gate auto-approved, proves the result with STS, archives and verifies the record, and
writes the audit report to .keyrot/audit/.

Examples:
  keyrot demo
  npm run demo`,
  )
  .action(async (options) => {
    process.exitCode = await demo(terminalOutput(Boolean(options.json)), { json: Boolean(options.json) });
  });

try {
  await program.parseAsync();
} catch (error) {
  if (error instanceof CommanderError) {
    // Commander has printed the message (or the help) already.
    process.exitCode = error.exitCode === 0 ? 0 : EXIT_CODES.INVALID;
  } else {
    printFailure(error as Error);
  }
}

/** One line, no stack trace (unless KEYROT_DEBUG), and the exit code the error carries. */
function printFailure(failure: Error): void {
  const named = failure instanceof CommandError || failure.name === 'Error';
  process.stderr.write(`keyrot: ${printable(`${named ? '' : `${failure.name}: `}${failure.message}`)}\n`);
  if (process.env.KEYROT_DEBUG) process.stderr.write(`${failure.stack}\n`);
  process.exitCode = failure instanceof CommandError ? failure.exitCode : EXIT_CODES.ERROR;
}
