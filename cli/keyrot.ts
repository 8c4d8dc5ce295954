import { userInfo } from 'node:os';
import { Command, InvalidArgumentError, Option } from 'commander';
import { listApprovals, signFromTerminal } from './approve';
import { demo } from './demo';
import { EXIT_CODES } from './outcome';
import { terminalOutput } from './output';
import { rotate } from './rotate';

const integer = (name: string) => (value: string) => {
  if (!/^\d+$/.test(value)) throw new InvalidArgumentError(`${name} must be a whole number, got "${value}"`);
  return Number(value);
};

/** Apply --region/--profile the way the AWS CLI does: through the SDK's own environment. */
function awsOptions(options: { region?: string; profile?: string }): void {
  if (options.region) process.env.AWS_REGION = options.region;
  if (options.profile) process.env.AWS_PROFILE = options.profile;
}

const program = new Command()
  .name('keyrot')
  .description('Rotate IAM user access keys through a Step Functions workflow with approval, rollback and audit.')
  .showHelpAfterError('(run with --help for usage)')
  .addHelpText(
    'after',
    `
Environment:
  AWS_ENDPOINT_URL        send every AWS call there (the local AWS, moto); unset means real AWS
  KEYROT_STATE_MACHINE_ARN  the deployed rotation state machine (or --state-machine-arn)
  KEYROT_HOME             where local runs keep their history (default ./.keyrot)`,
  );

program
  .command('rotate')
  .description('Rotate the access key of one IAM user.')
  .argument('<user>', 'IAM user name')
  .option('--local', 'run the workflow here with the local engine (AWS_ENDPOINT_URL, or real AWS when unset)')
  .option('--force', 'rotate even if the key is not due yet')
  .option('--as-of <time>', 'judge key age as of this ISO-8601 time instead of now')
  .option('--json', 'print one JSON object and nothing else on stdout')
  .option('--requested-by <name>', 'who asks for the rotation (recorded; may not approve it)', userInfo().username)
  .option('--max-age-days <days>', 'rotate keys at least this old', integer('--max-age-days'))
  .option('--rotation-approval', 'require an approval before a key is created')
  .option('--no-deletion-approval', 'delete the old key without the approval gate')
  .addOption(
    new Option('--validation <mode>', 'how the consumer confirms it uses the new key').choices(['none', 'last-used']),
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
  .option('--state-machine-arn <arn>', 'the deployed state machine (default $KEYROT_STATE_MACHINE_ARN)')
  .option('--region <region>', 'AWS region, as the AWS CLI takes it')
  .option('--profile <profile>', 'AWS shared-config profile, as the AWS CLI takes it')
  .addHelpText(
    'after',
    `
Examples:
  keyrot rotate build-bot                       start on the deployed state machine and follow it
  keyrot rotate build-bot --local               run the workflow here; the deletion gate prints a link
                                                to the local approval page (or use keyrot approve)
  keyrot rotate build-bot --local --force --no-deletion-approval --json

Exit codes:
  0 ROTATED or SKIPPED   2 invalid input or unknown user   3 SKIPPED: BLOCKED, a human must decide
  4 REJECTED   5 ROLLED_BACK   6 ROLLBACK_FAILED (needs a human)   7 other failure   1 error`,
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
        requestedBy: options.requestedBy,
        config,
        autoApprove: options.autoApprove,
        stateMachineArn: options.stateMachineArn,
        skipWaits: Boolean(options.skipWaits),
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

Exit codes: 0 signed, 4 refused (expired, already decided, not allowed), 5 wrong password or locked, 1 error`,
    )
    .action(async (approval: string, options) => {
      awsOptions(options);
      process.exitCode = await signFromTerminal(approval, { ...options, meaning, json: Boolean(options.json) });
    });
}

program
  .command('approvals')
  .description('List the approvals waiting for a decision.')
  .option('--json', 'print them as one JSON array')
  .option('--region <region>', 'AWS region, as the AWS CLI takes it')
  .option('--profile <profile>', 'AWS shared-config profile, as the AWS CLI takes it')
  .action(async (options) => {
    awsOptions(options);
    process.exitCode = await listApprovals({ json: Boolean(options.json) });
  });

program
  .command('demo')
  .description('Start a local AWS (moto), seed a service user and rotate its key end to end. No AWS account needed.')
  .option('--json', 'print the rotation result as one JSON object on stdout')
  .action(async (options) => {
    process.exitCode = await demo(terminalOutput(Boolean(options.json)), { json: Boolean(options.json) });
  });

try {
  await program.parseAsync();
} catch (error) {
  const failure = error as Error;
  process.stderr.write(`keyrot: ${failure.name === 'Error' ? '' : `${failure.name}: `}${failure.message}\n`);
  if (process.env.KEYROT_DEBUG) process.stderr.write(`${failure.stack}\n`);
  process.exitCode = EXIT_CODES.ERROR;
}
