import { AsyncLocalStorage } from 'node:async_hooks';
import { appendFileSync, mkdirSync } from 'node:fs';
import * as path from 'node:path';
import { onEveryClient, type ClientIdentity, type HookedClient } from '../handlers/shared/aws/hooks';

/**
 * What a call touches, named as the stack names it: the evaluation maps each kind to the
 * synthesized resource (a user under the managed path, the approvals table, ...).
 */
export const RESOURCE_KINDS = [
  'user',
  'user-secret',
  'link-key',
  'approvals-table',
  // One of the approvals table's indexes (a Query); `name` is the index.
  'approvals-index',
  'notification-topic',
  'archive-bucket',
  'archive-object',
  'scan-object',
  'rotation-state-machine',
  'rotation-execution',
  'member-role',
  'approver-pool',
  'signing-key',
  'any',
  // No IAM authorization at all (GetCallerIdentity, a sign-in): recorded, never evaluated.
  'none',
  // Not a resource keyrot's stack knows: a denial to report, not to map.
  'unknown',
] as const;
export type ResourceKind = (typeof RESOURCE_KINDS)[number];

/** One AWS call a handler made. Identifiers only: never an input or output value that could be a secret. */
export interface LedgerEntry {
  handler: string;
  /** The function's role, a member account's role, or a user's own key (proof that a key works). */
  identity: ClientIdentity['kind'];
  /** The member account, for `member` calls. */
  account?: string;
  /** The IAM action the call is authorized as (`dynamodb:Scan`). */
  action: string;
  kind: ResourceKind;
  /** The part of the resource that is not the stack's: user name, secret name after the prefix, object key, execution name. */
  name?: string;
  /** The resource ARN as called here (local names); the evaluation rebuilds the deployed one from kind and name. */
  arn: string;
  /** Context keys a policy can condition on (`sts:ExternalId`). */
  context: Record<string, string>;
  /** `ok`, or the error's name. */
  outcome: string;
}

const current = new AsyncLocalStorage<string>();

/** Attribute every AWS call made inside `fn` to `handler` (the Lambda that would make it when deployed). */
export function asHandler<T>(handler: string, fn: () => T): T {
  return current.run(handler, fn);
}

/** Where this process writes its ledger: `$KEYROT_LEDGER_DIR`, else `$KEYROT_HOME/ledger`. */
export function ledgerDir(): string {
  return (
    process.env.KEYROT_LEDGER_DIR ?? path.join(process.env.KEYROT_HOME ?? path.join(process.cwd(), '.keyrot'), 'ledger')
  );
}

/** Actions whose IAM name is not `<service>:<command>`. */
const RENAMED: Record<string, string> = {
  's3:ListObjectVersions': 's3:ListBucketVersions',
  's3:ListObjectsV2': 's3:ListBucket',
  's3:HeadObject': 's3:GetObject',
  'dynamodb:Put': 'dynamodb:PutItem',
  'dynamodb:Get': 'dynamodb:GetItem',
  'dynamodb:Update': 'dynamodb:UpdateItem',
  'dynamodb:Delete': 'dynamodb:DeleteItem',
  'dynamodb:Scan': 'dynamodb:Scan',
  'dynamodb:Query': 'dynamodb:Query',
};

const SERVICES: Record<string, string> = {
  IAMClient: 'iam',
  SecretsManagerClient: 'secretsmanager',
  SNSClient: 'sns',
  DynamoDBClient: 'dynamodb',
  DynamoDBDocumentClient: 'dynamodb',
  CognitoIdentityProviderClient: 'cognito-idp',
  S3Client: 's3',
  SFNClient: 'states',
  STSClient: 'sts',
  OrganizationsClient: 'organizations',
  KMSClient: 'kms',
};

/** Calls IAM does not authorize: anyone with a valid signature (or none) may make them. */
const UNAUTHORIZED = new Set([
  'sts:GetCallerIdentity',
  'cognito-idp:InitiateAuth',
  'cognito-idp:RespondToAuthChallenge',
  'cognito-idp:GetUser',
]);

/** IAM actions on the account rather than on a user. */
const ACCOUNT_WIDE = new Set(['iam:GenerateCredentialReport', 'iam:GetCredentialReport']);

type Input = Record<string, unknown>;
const text = (value: unknown): string | undefined => (typeof value === 'string' ? value : undefined);

/** The resource a call touches, as kind, name and local ARN. */
function target(
  action: string,
  input: Input,
  output: Input | undefined,
  where: { region: string; account: string },
): Pick<LedgerEntry, 'kind' | 'name' | 'arn' | 'context'> {
  const env = process.env;
  const [service] = action.split(':');
  const own = `${where.region}:${where.account}`;
  if (UNAUTHORIZED.has(action)) return { kind: 'none', arn: '*', context: {} };
  switch (service) {
    case 'iam': {
      if (ACCOUNT_WIDE.has(action)) return { kind: 'any', arn: '*', context: {} };
      // GetAccessKeyLastUsed names only the key: its owner comes back in the answer.
      const user = text(input.UserName) ?? text(output?.UserName) ?? '(unknown)';
      return { kind: 'user', name: user, arn: `arn:aws:iam::${where.account}:user/${user}`, context: {} };
    }
    case 'secretsmanager': {
      const id = text(input.SecretId) ?? text(input.Name) ?? '';
      const prefix = env.KEYROT_SECRET_PREFIX ?? 'keyrot/';
      const arn = id.startsWith('arn:') ? id : `arn:aws:secretsmanager:${own}:secret:${id}-AbCdEf`;
      const name = id.startsWith('arn:') ? (id.split(':secret:')[1] ?? '').replace(/-[A-Za-z0-9]{6}$/, '') : id;
      if (env.KEYROT_LINK_KEY_SECRET && [arn, name].includes(env.KEYROT_LINK_KEY_SECRET))
        return { kind: 'link-key', arn, context: {} };
      if (name.startsWith(prefix)) return { kind: 'user-secret', name: name.slice(prefix.length), arn, context: {} };
      return { kind: 'unknown', name, arn, context: {} };
    }
    case 'sns': {
      const topic = text(input.TopicArn) ?? '';
      return { kind: topic === env.KEYROT_TOPIC_ARN ? 'notification-topic' : 'unknown', arn: topic, context: {} };
    }
    case 'dynamodb': {
      const table = text(input.TableName) ?? '';
      const index = text(input.IndexName);
      const arn = `arn:aws:dynamodb:${own}:table/${table}${index ? `/index/${index}` : ''}`;
      if (table !== env.KEYROT_APPROVALS_TABLE) return { kind: 'unknown', arn, context: {} };
      return index
        ? { kind: 'approvals-index', name: index, arn, context: {} }
        : { kind: 'approvals-table', arn, context: {} };
    }
    case 's3': {
      const bucket = text(input.Bucket) ?? '';
      const key = text(input.Key);
      if (key !== undefined && bucket === env.KEYROT_SCAN_BUCKET)
        return { kind: 'scan-object', name: key, arn: `arn:aws:s3:::${bucket}/${key}`, context: {} };
      const ours = bucket === env.KEYROT_ARCHIVE_BUCKET;
      if (key === undefined)
        return { kind: ours ? 'archive-bucket' : 'unknown', arn: `arn:aws:s3:::${bucket}`, context: {} };
      // A write that sets a lock is also authorized as s3:PutObjectRetention.
      const lock = text(input.ObjectLockMode);
      return {
        kind: ours ? 'archive-object' : 'unknown',
        name: key,
        arn: `arn:aws:s3:::${bucket}/${key}`,
        context: lock ? { 's3:object-lock-mode': lock } : {},
      };
    }
    case 'states': {
      const machine = text(input.stateMachineArn);
      if (machine) return { kind: 'rotation-state-machine', arn: machine, context: {} };
      const execution = text(input.executionArn);
      if (execution)
        return { kind: 'rotation-execution', name: execution.split(':').at(-1) ?? '', arn: execution, context: {} };
      // SendTaskSuccess/Failure name no resource: IAM authorizes them on `*`.
      return { kind: 'any', arn: '*', context: {} };
    }
    case 'sts': {
      const role = text(input.RoleArn) ?? '';
      const externalId = text(input.ExternalId);
      return {
        kind: 'member-role',
        name: role.split(':')[4] ?? '',
        arn: role,
        context: externalId ? { 'sts:ExternalId': externalId } : {},
      };
    }
    case 'kms': {
      const key = text(input.KeyId) ?? '';
      const signing = env.KEYROT_SIGNING_KEY_ID;
      const ours = !!signing && (key === signing || signing.endsWith(`/${key}`));
      return { kind: ours ? 'signing-key' : 'unknown', arn: key, context: {} };
    }
    case 'cognito-idp': {
      const pool = text(input.UserPoolId);
      return pool
        ? { kind: 'approver-pool', arn: `arn:aws:cognito-idp:${own}:userpool/${pool}`, context: {} }
        : { kind: 'any', arn: '*', context: {} };
    }
    default:
      return { kind: 'any', arn: '*', context: {} };
  }
}

type Next = (args: { input: Input }) => Promise<{ output: Input }>;

/**
 * Record every AWS call a handler makes into `ledgerDir()/<pid>.jsonl`: the handler, the IAM
 * action, the resource and the context keys. Calls outside a handler (the CLI's own) are not
 * recorded: they run as the operator, not as a role the stack defines.
 */
export function recordCallLedger(): void {
  if (recording) return;
  recording = true;
  const file = path.join(ledgerDir(), `${process.pid}.jsonl`);
  let ready = false;
  onEveryClient((client: HookedClient, identity: ClientIdentity) => {
    const middleware =
      (next: Next, context: { commandName?: string; clientName?: string }) => async (args: { input: Input }) => {
        const handler = current.getStore();
        if (!handler) return next(args);
        const service = SERVICES[context.clientName ?? ''] ?? (context.clientName ?? '?').replace(/Client$/, '');
        const named = `${service}:${(context.commandName ?? '?').replace(/Command$/, '')}`;
        const action = RENAMED[named] ?? named;
        const region = await client.config.region();
        const account =
          identity.kind === 'member' ? identity.account : (process.env.KEYROT_LEDGER_ACCOUNT ?? MOTO_ACCOUNT);
        const write = (output: Input | undefined, outcome: string) => {
          const entry: LedgerEntry = {
            handler,
            identity: identity.kind,
            ...(identity.kind === 'member' ? { account: identity.account } : {}),
            action,
            ...target(action, args.input, output, { region, account }),
            outcome,
          };
          if (!ready) mkdirSync(path.dirname(file), { recursive: true });
          ready = true;
          appendFileSync(file, `${JSON.stringify(entry)}\n`);
        };
        try {
          const result = await next(args);
          write(result.output, 'ok');
          return result;
        } catch (error) {
          write(undefined, (error as Error).name);
          throw error;
        }
      };
    client.middlewareStack.add(middleware as never, { step: 'initialize', name: 'keyrot-call-ledger' });
  });
}

let recording = false;

/** The account moto gives every IAM user and role of its default account. */
const MOTO_ACCOUNT = '123456789012';
