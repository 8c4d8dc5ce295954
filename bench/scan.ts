/**
 * Benchmark of the scan: `keyrot scan` (the IAM credential report) against the per-user
 * approach other rotation tools take (ListUsers, then ListAccessKeys and GetAccessKeyLastUsed
 * per user and key), over 100, 1,000 and 10,000 users in moto, in the same run. Prints wall
 * time and AWS API calls of each and their ratio. Then the daily scan workflow at fleet size
 * (100,000 users in four accounts, 10,000 DUE): time, calls and the largest state payload.
 * Run with `npm run bench`.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import {
  CreateAccessKeyCommand,
  CreateUserCommand,
  GenerateCredentialReportCommand,
  GetAccessKeyLastUsedCommand,
  GetCredentialReportCommand,
  IAMClient,
  ListAccessKeysCommand,
  ListUsersCommand,
  ListUserTagsCommand,
} from '@aws-sdk/client-iam';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { CreateStateMachineCommand, SFNClient } from '@aws-sdk/client-sfn';
import { CreateTopicCommand, SNSClient } from '@aws-sdk/client-sns';
import { AssumeRoleCommand, GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { mockClient } from 'aws-sdk-client-mock';
import { startMoto } from '../local/moto';

const SIZES = (process.env.BENCH_SCAN_SIZES ?? '100,1000,10000').split(',').map(Number);
const FLEET_USERS = Number(process.env.BENCH_FLEET_USERS ?? 100_000);
const FLEET_DUE_EVERY = 10;
const FLEET_ACCOUNTS = ['111111111111', '222222222222', '333333333333', '444444444444'];
const moto = await startMoto();
const credentials = { accessKeyId: 'bench', secretAccessKey: 'bench' };
// The handlers' shared clients read the endpoint when they are made: set it before importing them.
Object.assign(process.env, {
  AWS_ENDPOINT_URL: moto.endpoint,
  AWS_REGION: 'us-east-1',
  AWS_ACCESS_KEY_ID: credentials.accessKeyId,
  AWS_SECRET_ACCESS_KEY: credentials.secretAccessKey,
  KEYROT_LEDGER_DIR: mkdtempSync(path.join(tmpdir(), 'keyrot-bench-ledger-')),
});
const { DEFAULT_RULES, scanAccount } = await import('../handlers/domain/scan');
let calls = 0;
const iam = new IAMClient({ endpoint: moto.endpoint, region: 'us-east-1', credentials, maxAttempts: 1 });
iam.middlewareStack.add(
  (next) => (args) => {
    calls += 1;
    return next(args);
  },
  { step: 'initialize', name: 'bench-count' },
);

/** Wall time and calls of one approach. */
async function measure(run: () => Promise<number>): Promise<{ ms: number; calls: number; users: number }> {
  calls = 0;
  const start = performance.now();
  const users = await run();
  return { ms: performance.now() - start, calls, users };
}

/** The per-user way: every user listed, then its keys, then each key's last use. */
async function perUser(): Promise<number> {
  let marker: string | undefined;
  let users = 0;
  do {
    const page = await iam.send(new ListUsersCommand({ Marker: marker, MaxItems: 1000 }));
    for (const user of page.Users ?? []) {
      const keys = await iam.send(new ListAccessKeysCommand({ UserName: user.UserName }));
      for (const key of keys.AccessKeyMetadata ?? []) {
        await iam.send(new GetAccessKeyLastUsedCommand({ AccessKeyId: key.AccessKeyId }));
      }
      users += 1;
    }
    marker = page.IsTruncated ? page.Marker : undefined;
  } while (marker);
  return users;
}

/** 64-character user names (IAM's longest) under a 512-character path (IAM's longest). */
const LONG_PATH = `/${'p'.repeat(254)}/${'q'.repeat(255)}/`;
const fleetUser = (account: string, i: number) => `svc-${account}-${String(i).padStart(6, '0')}-`.padEnd(64, 'x');
const REPORT_HEADER =
  'user,arn,user_creation_time,password_enabled,password_last_used,password_last_changed,password_next_rotation,mfa_active,access_key_1_active,access_key_1_last_rotated,access_key_1_last_used_date,access_key_1_last_used_region,access_key_1_last_used_service,access_key_2_active,access_key_2_last_rotated,access_key_2_last_used_date,access_key_2_last_used_region,access_key_2_last_used_service,cert_1_active,cert_1_last_rotated,cert_2_active,cert_2_last_rotated';

/** One account's credential report: one key per user, used yesterday; one user in ten 120 days old. */
function fleetReport(account: string, asOf: Date): string {
  const ago = (days: number) => new Date(asOf.getTime() - days * 86_400_000).toISOString();
  const lines = [REPORT_HEADER];
  for (let i = 0; i < FLEET_USERS / FLEET_ACCOUNTS.length; i += 1) {
    const user = fleetUser(account, i);
    const age = i % FLEET_DUE_EVERY === 0 ? 120 : 5;
    lines.push(
      `${user},arn:aws:iam::${account}:user${LONG_PATH}${user},${ago(400)},false,N/A,N/A,N/A,false,` +
        `true,${ago(age)},${ago(1)},us-east-1,iam,false,N/A,N/A,N/A,N/A,false,N/A,false,N/A`,
    );
  }
  return lines.join('\n');
}

/**
 * The daily scan workflow at fleet size: the synthesized definition in the local engine with the
 * real handlers; S3 (the due lists), Step Functions (the rotations started) and SNS in moto. IAM
 * and STS answer in-process: moto cannot backdate a key, and seeding 100,000 users takes longer
 * than the scan. Calls are counted per action, IAM's and STS's as the handlers sent them.
 */
async function fleet(): Promise<void> {
  const asOf = new Date();
  const [own, ...members] = FLEET_ACCOUNTS as [string, ...string[]];
  const bootstrap = { endpoint: moto.endpoint, region: 'us-east-1', credentials };
  await new S3Client({ ...bootstrap, forcePathStyle: true }).send(new CreateBucketCommand({ Bucket: 'bench-scan' }));
  const topic = await new SNSClient(bootstrap).send(new CreateTopicCommand({ Name: 'bench-notifications' }));
  const machine = await new SFNClient(bootstrap).send(
    new CreateStateMachineCommand({
      name: 'Keyrot-rotation',
      definition: JSON.stringify({ StartAt: 'Wait', States: { Wait: { Type: 'Wait', Seconds: 3600, End: true } } }),
      roleArn: `arn:aws:iam::${own}:role/keyrot`,
    }),
  );
  Object.assign(process.env, {
    KEYROT_SCAN_BUCKET: 'bench-scan',
    KEYROT_STATE_MACHINE_ARN: machine.stateMachineArn,
    KEYROT_TOPIC_ARN: topic.TopicArn,
    KEYROT_ACCOUNTS: members.join(','),
    KEYROT_EXTERNAL_ID: 'bench',
    KEYROT_USER_PATH: LONG_PATH,
  });
  const sts = mockClient(STSClient);
  sts.on(GetCallerIdentityCommand).resolves({ Account: own });
  sts.on(AssumeRoleCommand).callsFake((input: { RoleArn: string }) => ({
    Credentials: {
      AccessKeyId: `ASIA${input.RoleArn.split(':')[4]}`,
      SecretAccessKey: 'member',
      SessionToken: 'member',
      Expiration: new Date(Date.now() + 3_600_000),
    },
  }));
  const mockedIam = mockClient(IAMClient);
  mockedIam.on(GenerateCredentialReportCommand).resolves({ State: 'COMPLETE' });
  mockedIam.on(GetCredentialReportCommand).callsFake(async (_input: unknown, client: () => IAMClient) => {
    const signer = await client().config.credentials();
    const account = members.find((member) => signer.accessKeyId === `ASIA${member}`) ?? own;
    return { Content: new TextEncoder().encode(fleetReport(account, asOf)), ReportFormat: 'text/csv' };
  });
  mockedIam.on(ListUserTagsCommand).resolves({ Tags: [] });

  const { onEveryClient } = await import('../handlers/shared/aws/hooks');
  const { synthesizeDefinition } = await import('../local/definition');
  const { LocalTaskTokens, runLocal } = await import('../local/engine');
  const { largestPayload } = await import('../local/history');
  const counted = new Map<string, number>();
  onEveryClient((client) =>
    client.middlewareStack.add(
      ((next: (args: unknown) => Promise<unknown>, context: { commandName?: string; clientName?: string }) =>
        (args: unknown) => {
          const action = `${(context.clientName ?? '').replace(/Client$/, '')}:${(context.commandName ?? '').replace(/Command$/, '')}`;
          counted.set(action, (counted.get(action) ?? 0) + 1);
          return next(args);
        }) as never,
      { step: 'initialize', name: 'bench-fleet-count' },
    ),
  );
  const definition = await synthesizeDefinition({}, 'Scan');
  try {
    const start = performance.now();
    const execution = await runLocal(definition, {
      input: { asOf: asOf.toISOString() },
      tokens: new LocalTaskTokens(),
      waits: 'skip',
    });
    const ms = performance.now() - start;
    if (execution.status !== 'SUCCEEDED') throw new Error(`the scan ${execution.status}: ${execution.cause}`);
    for (const [mock, service] of [
      [mockedIam, 'IAM'],
      [sts, 'STS'],
    ] as const) {
      for (const call of mock.calls()) {
        const action = `${service}:${(call.args[0] as object).constructor.name.replace(/Command$/, '')}`;
        counted.set(action, (counted.get(action) ?? 0) + 1);
      }
    }
    const output = execution.output as { started: number; counts: Record<string, number> };
    const phase = (name: string) => {
      const entered = execution.events.find(
        (event) => event.type.endsWith('StateEntered') && JSON.stringify(event).includes(`"name":"${name}"`),
      );
      const exited = execution.events.find(
        (event) => event.type.endsWith('StateExited') && JSON.stringify(event).includes(`"name":"${name}"`),
      );
      return entered && exited ? Date.parse(exited.timestamp) - Date.parse(entered.timestamp) : NaN;
    };
    const largest = largestPayload(execution.events);
    // What the previous design carried in state: every DUE user (name and account) in the scan's output.
    const dueInState = Buffer.byteLength(
      JSON.stringify(
        FLEET_ACCOUNTS.flatMap((account) =>
          Array.from({ length: FLEET_USERS / FLEET_ACCOUNTS.length / FLEET_DUE_EVERY }, (_, i) => ({
            userName: fleetUser(account, i * FLEET_DUE_EVERY),
            account: account === own ? '' : account,
          })),
        ),
      ),
    );
    const total = [...counted.values()].reduce((a, b) => a + b, 0);
    const kib = (bytes: number) => `${(bytes / 1024).toFixed(1)} KiB`;
    console.log(
      `\ndaily scan workflow, ${FLEET_USERS.toLocaleString('en')} users in ${FLEET_ACCOUNTS.length} accounts, ` +
        `${output.counts.DUE?.toLocaleString('en')} DUE (64-character names, 512-character path); local engine, IAM/STS in-process, S3/SFN/SNS in moto`,
    );
    console.log(
      `  wall time                       ${(ms / 1000).toFixed(1)} s  (Scan Accounts ${(phase('Scan Accounts') / 1000).toFixed(1)} s, Start Rotations ${(phase('Start Rotations') / 1000).toFixed(1)} s)`,
    );
    console.log(`  rotations started               ${output.started.toLocaleString('en')}`);
    console.log(`  AWS calls                       ${total.toLocaleString('en')}`);
    for (const [action, n] of [...counted].sort()) console.log(`    ${action.padEnd(34)}${String(n).padStart(7)}`);
    console.log(`  largest state payload           ${kib(largest.bytes)} (${largest.type}); limit 256 KiB`);
    console.log(
      `  previous design, same fleet     due list in state ${kib(dueInState)}: over the limit, so it was capped at 1,000 starts (2,000 at most) per scan`,
    );
    const perUser = 1 + FLEET_USERS + FLEET_USERS + Math.ceil(FLEET_USERS / 1000) - 1;
    console.log(
      `  per-user anchor, same fleet     ${perUser.toLocaleString('en')} calls to find the due keys (ListUsers pages, ListAccessKeys and GetAccessKeyLastUsed per user), against ${(counted.get('IAM:GetCredentialReport') ?? 0) + (counted.get('IAM:GenerateCredentialReport') ?? 0)} report calls (+ ${counted.get('IAM:ListUserTags') ?? 0} ListUserTags for the users not OK)`,
    );
  } finally {
    mockedIam.restore();
    sts.restore();
  }
}

try {
  console.log(
    `keyrot scan benchmark  ${new Date().toISOString()}  node ${process.version}  moto on 127.0.0.1 (signature checks off)`,
  );
  console.log('   users   credential report: ms  calls    per-user: ms   calls    time ratio  call ratio');
  let seeded = 0;
  for (const size of SIZES) {
    // Grow the fleet to `size` users with one key each, 16 requests at a time.
    const pending = Array.from({ length: size - seeded }, (_, i) => `bench-${String(seeded + i).padStart(5, '0')}`);
    for (let i = 0; i < pending.length; i += 16) {
      await Promise.all(
        pending.slice(i, i + 16).map(async (user) => {
          await iam.send(new CreateUserCommand({ UserName: user }));
          await iam.send(new CreateAccessKeyCommand({ UserName: user }));
        }),
      );
    }
    seeded = size;
    const report = await measure(
      async () =>
        (await scanAccount(iam, '123456789012', { ...DEFAULT_RULES, asOf: new Date() }, { pollMs: 100 })).length,
    );
    const listing = await measure(perUser);
    if (report.users !== size || listing.users !== size)
      throw new Error(`saw ${report.users}/${listing.users} of ${size}`);
    console.log(
      [
        String(size).padStart(8),
        report.ms.toFixed(0).padStart(24),
        String(report.calls).padStart(6),
        listing.ms.toFixed(0).padStart(15),
        String(listing.calls).padStart(7),
        `${(listing.ms / report.ms).toFixed(1)}x`.padStart(13),
        `${(listing.calls / report.calls).toFixed(0)}x`.padStart(11),
      ].join(''),
    );
  }
  if (FLEET_USERS > 0) await fleet();
} finally {
  await moto.stop();
}
