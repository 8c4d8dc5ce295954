import { CognitoIdentityProviderClient } from '@aws-sdk/client-cognito-identity-provider';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { IAMClient } from '@aws-sdk/client-iam';
import { KMSClient } from '@aws-sdk/client-kms';
import { S3Client } from '@aws-sdk/client-s3';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SFNClient } from '@aws-sdk/client-sfn';
import { SNSClient } from '@aws-sdk/client-sns';
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { accountSettings, credentialsFor } from '../domain/accounts';
import { AccountNotManagedError } from './errors';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';

/**
 * The AWS clients the handlers share. Created once per Lambda container; every client
 * honours `AWS_ENDPOINT_URL`, which is how local mode points them at moto unchanged.
 */
export interface Clients {
  iam: IAMClient;
  secrets: SecretsManagerClient;
  sns: SNSClient;
  ddb: DynamoDBDocumentClient;
  cognito: CognitoIdentityProviderClient;
  s3: S3Client;
  sfn: SFNClient;
  /** KMS for the approval signing key (Sign in the approval function, GetPublicKey in the checkers). */
  kms: KMSClient;
  /** STS as this function's own role (identity, AssumeRole into member accounts). */
  sts: STSClient;
  /** An STS client that signs with the given key; used to prove a key works (or not). */
  stsFor: (credentials: { accessKeyId: string; secretAccessKey: string }) => STSClient;
}

/** Whose credentials a client signs with: the function's role, a member account's role, or a user's key. */
export type ClientIdentity = { kind: 'role' } | { kind: 'member'; account: string } | { kind: 'key' };

/** An SDK client as a hook sees it: its middleware stack and its region. */
export interface HookedClient {
  middlewareStack: { add: (middleware: never, options: { step: 'initialize'; name: string }) => void };
  config: { region: () => Promise<string> };
}

type ClientHook = (client: HookedClient, identity: ClientIdentity) => void;
const hooks: ClientHook[] = [];
const made: [HookedClient, ClientIdentity][] = [];

/**
 * Run `hook` on every client this module makes, those made already and those made later
 * (member and key clients): how local mode records its call ledger without touching a handler.
 */
export function onEveryClient(hook: ClientHook): void {
  hooks.push(hook);
  for (const [client, identity] of made) hook(client, identity);
}

/** Register a client with the hooks; the shared ones are remembered for hooks added later. */
export function hooked<T>(client: T, identity: ClientIdentity = { kind: 'role' }, remember = false): T {
  const seen = client as unknown as HookedClient;
  if (remember) made.push([seen, identity]);
  for (const hook of hooks) hook(seen, identity);
  return client;
}

const maxAttempts = 4;
const shared = <T>(client: T): T => hooked(client, { kind: 'role' }, true);

export const clients: Clients = {
  iam: shared(new IAMClient({ maxAttempts })),
  secrets: shared(new SecretsManagerClient({ maxAttempts })),
  sns: shared(new SNSClient({ maxAttempts })),
  ddb: DynamoDBDocumentClient.from(shared(new DynamoDBClient({ maxAttempts }))),
  cognito: shared(new CognitoIdentityProviderClient({ maxAttempts })),
  // moto on 127.0.0.1 has no bucket subdomains: path-style addressing when the endpoint is overridden.
  s3: shared(new S3Client({ maxAttempts, forcePathStyle: Boolean(process.env.AWS_ENDPOINT_URL) })),
  sfn: shared(new SFNClient({ maxAttempts })),
  kms: shared(new KMSClient({ maxAttempts })),
  sts: shared(new STSClient({ maxAttempts })),
  // One attempt: the state machine's Retry owns the backoff for eventual consistency.
  stsFor: (credentials) => hooked(new STSClient({ credentials, maxAttempts: 1 }), { kind: 'key' }),
};

const MEMBER_CREDENTIALS_MS = 50 * 60_000;
const members = new Map<string, { clients: Clients; until: number }>();
let ownAccount: Promise<string> | undefined;

/**
 * The clients for the account a rotation's user lives in: ours as they are, or, for a member
 * account, IAM and Secrets Manager through the member role (cached for 50 minutes).
 * Notifications, approvals and the archive stay central. Only configured accounts are reached.
 */
export async function clientsFor(account: string | undefined): Promise<Clients> {
  if (!account) return clients;
  ownAccount ??= clients.sts.send(new GetCallerIdentityCommand({})).then((identity) => identity.Account ?? '');
  const own = await ownAccount;
  if (account === own) return clients;
  const config = accountSettings();
  if (config.accounts !== 'organizations' && !config.accounts.includes(account)) {
    throw new AccountNotManagedError(`account ${account} is not one keyrot manages (KEYROT_ACCOUNTS)`);
  }
  const cached = members.get(account);
  if (cached && cached.until > Date.now()) return cached.clients;
  const credentials = await credentialsFor(clients.sts, account, own, config);
  const identity = { kind: 'member', account } as const;
  const member: Clients = {
    ...clients,
    iam: hooked(new IAMClient({ maxAttempts, credentials }), identity),
    secrets: hooked(new SecretsManagerClient({ maxAttempts, credentials }), identity),
  };
  members.set(account, { clients: member, until: Date.now() + MEMBER_CREDENTIALS_MS });
  return member;
}

/** Deployment settings read from the environment, with the defaults local mode uses. */
export interface Settings {
  secretPrefix: string;
  exemptTag: string;
  topicArn: string | undefined;
  approvalsTable: string | undefined;
  kmsKeyId: string | undefined;
  /** The asymmetric KMS key (ARN) approval signatures are signed with (SIGN_VERIFY, ECC_NIST_P256). */
  signingKeyId: string | undefined;
  /** Where approval links point: the deployed function URL, or the local approval server. */
  approvalBaseUrl: string | undefined;
  /** The Secrets Manager secret holding the HMAC key for approval links and CSRF tokens. */
  linkKeySecret: string | undefined;
  /** User names allowed to sign approvals. */
  approvers: string[];
  /** The Cognito user pool of the approvers, and its app client they authenticate through (USER_PASSWORD_AUTH). */
  approverPoolId: string | undefined;
  approverClientId: string | undefined;
}

/** Read the settings from the environment at call time (tests change it). */
export function settings(): Settings {
  return {
    secretPrefix: process.env.KEYROT_SECRET_PREFIX ?? 'keyrot/',
    exemptTag: process.env.KEYROT_EXEMPT_TAG ?? 'keyrot:exempt',
    topicArn: process.env.KEYROT_TOPIC_ARN || undefined,
    approvalsTable: process.env.KEYROT_APPROVALS_TABLE || undefined,
    kmsKeyId: process.env.KEYROT_KMS_KEY_ID || undefined,
    signingKeyId: process.env.KEYROT_SIGNING_KEY_ID || undefined,
    approvalBaseUrl: process.env.KEYROT_APPROVAL_BASE_URL?.replace(/\/+$/, '') || undefined,
    linkKeySecret: process.env.KEYROT_LINK_KEY_SECRET || undefined,
    approvers: (process.env.KEYROT_APPROVERS ?? '')
      .split(',')
      .map((name) => name.trim())
      .filter(Boolean),
    approverPoolId: process.env.KEYROT_APPROVER_POOL_ID || undefined,
    approverClientId: process.env.KEYROT_APPROVER_CLIENT_ID || undefined,
  };
}
