import { randomBytes } from 'node:crypto';
import {
  AdminCreateUserCommand,
  AdminSetUserPasswordCommand,
  CognitoIdentityProviderClient,
  CreateUserPoolClientCommand,
  CreateUserPoolCommand,
} from '@aws-sdk/client-cognito-identity-provider';
import { CreateTableCommand, DynamoDBClient, UpdateTimeToLiveCommand } from '@aws-sdk/client-dynamodb';
import { CreateKeyCommand, KMSClient } from '@aws-sdk/client-kms';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import {
  CreateAccessKeyCommand,
  CreateRoleCommand,
  CreateUserCommand,
  IAMClient,
  PutRolePolicyCommand,
  PutUserPolicyCommand,
  TagUserCommand,
} from '@aws-sdk/client-iam';
import { AssumeRoleCommand, STSClient } from '@aws-sdk/client-sts';
import { CreateSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { CreateTopicCommand, SNSClient } from '@aws-sdk/client-sns';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { putDirectoryEntry } from '../handlers/domain/approvers';
import { APPROVAL_INDEXES } from '../handlers/shared/approval-indexes';

/** Credentials of an IAM user (or an assumed role) in the local AWS. */
export interface LocalKey {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

/** The environment the handlers read; the same names a deployed function gets. */
export interface LocalEnvironment {
  AWS_ENDPOINT_URL: string;
  AWS_REGION: string;
  AWS_ACCESS_KEY_ID: string;
  AWS_SECRET_ACCESS_KEY: string;
  KEYROT_TOPIC_ARN: string;
  KEYROT_APPROVALS_TABLE: string;
  KEYROT_SECRET_PREFIX: string;
  KEYROT_LINK_KEY_SECRET: string;
  KEYROT_APPROVERS: string;
  KEYROT_APPROVER_POOL_ID: string;
  KEYROT_APPROVER_CLIENT_ID: string;
  KEYROT_ARCHIVE_BUCKET: string;
  KEYROT_SCAN_BUCKET: string;
  KEYROT_SIGNING_KEY_ID: string;
}

/** The approvals table local mode creates (it also holds the approver directory). */
export const LOCAL_APPROVALS_TABLE = 'keyrot-approvals';

/** The local evidence archive: a bucket with Object Lock, as the stack creates it. */
export const LOCAL_ARCHIVE_BUCKET = 'keyrot-evidence';

/** The local bucket the daily scan writes its due lists to. */
export const LOCAL_SCAN_BUCKET = 'keyrot-scan-lists';

/** An account in the approvers' user pool. */
export interface DemoApprover {
  username: string;
  name: string;
  password: string;
  /** On keyrot's approver allow-list. */
  allowed: boolean;
  /** The IAM principal the directory links (separation of duties compares it with the requester). */
  principalArn?: string;
}

/** Who the local operator's credentials authenticate as: the requester of every local rotation. */
export const LOCAL_OPERATOR_ARN = 'arn:aws:iam::123456789012:user/keyrot/keyrot-operator';

/** The approvers local mode seeds into moto's Cognito (demo passwords, never real ones). */
export const DEMO_APPROVERS: DemoApprover[] = [
  { username: 'quality-approver', name: 'Quinn Avery (QA Lead)', password: 'Demo-Approver-1!', allowed: true },
  { username: 'system-owner', name: 'Ira Tanaka (System Owner)', password: 'Demo-Approver-2!', allowed: true },
  {
    username: 'ops',
    name: 'Olu Pereira (Operations)',
    password: 'Demo-Operator-3!',
    allowed: true,
    principalArn: LOCAL_OPERATOR_ARN,
  },
  { username: 'intern', name: 'Ivy Intern', password: 'Demo-Intern-4!', allowed: false },
];

const REGION = 'us-east-1';
const bootstrap = { accessKeyId: 'bootstrap', secretAccessKey: 'bootstrap' };

function client<T>(Client: new (config: object) => T, endpoint: string, credentials: LocalKey = bootstrap): T {
  return new Client({ endpoint, region: REGION, credentials });
}

/** The approvals table as the stack creates it: its key, the same indexes, TTL on `ttl`. */
export async function createApprovalsTable(ddb: DynamoDBClient, tableName: string): Promise<void> {
  const keys = new Set([
    'approvalId',
    ...APPROVAL_INDEXES.flatMap((index) => [index.partitionKey, index.sortKey ?? []].flat()),
  ]);
  await ddb.send(
    new CreateTableCommand({
      TableName: tableName,
      KeySchema: [{ AttributeName: 'approvalId', KeyType: 'HASH' }],
      AttributeDefinitions: [...keys].map((name) => ({ AttributeName: name, AttributeType: 'S' })),
      GlobalSecondaryIndexes: APPROVAL_INDEXES.map((index) => ({
        IndexName: index.name,
        KeySchema: [
          { AttributeName: index.partitionKey, KeyType: 'HASH' },
          ...(index.sortKey ? [{ AttributeName: index.sortKey, KeyType: 'RANGE' as const }] : []),
        ],
        Projection: { ProjectionType: 'INCLUDE', NonKeyAttributes: [...index.projected] },
      })),
      BillingMode: 'PAY_PER_REQUEST',
    }),
  );
  await ddb.send(
    new UpdateTimeToLiveCommand({
      TableName: tableName,
      TimeToLiveSpecification: { AttributeName: 'ttl', Enabled: true },
    }),
  );
}

/**
 * Prepare an empty local AWS (signature checks still off): the operator identity the
 * handlers run as, the notification topic and the approvals table. Returns the environment.
 */
export async function seedKeyrotResources(endpoint: string): Promise<LocalEnvironment> {
  const iam = client(IAMClient, endpoint);
  await iam.send(new CreateUserCommand({ UserName: 'keyrot-operator', Path: '/keyrot/' }));
  await iam.send(
    new PutUserPolicyCommand({
      UserName: 'keyrot-operator',
      PolicyName: 'local-operator',
      PolicyDocument: JSON.stringify({
        Version: '2012-10-17',
        Statement: [{ Effect: 'Allow', Action: '*', Resource: '*' }],
      }),
    }),
  );
  // The identity keyrot runs as is not one of the keys it rotates.
  await iam.send(
    new TagUserCommand({
      UserName: 'keyrot-operator',
      Tags: [{ Key: 'keyrot:exempt', Value: 'the local keyrot operator identity' }],
    }),
  );
  const { AccessKey } = await iam.send(new CreateAccessKeyCommand({ UserName: 'keyrot-operator' }));
  const topic = await client(SNSClient, endpoint).send(new CreateTopicCommand({ Name: 'keyrot-notifications' }));
  await createApprovalsTable(client(DynamoDBClient, endpoint), LOCAL_APPROVALS_TABLE);
  const linkKey = await client(SecretsManagerClient, endpoint).send(
    new CreateSecretCommand({ Name: 'keyrot/approval-link-key', SecretString: randomBytes(32).toString('hex') }),
  );
  const approvers = await seedApprovers(endpoint);
  // The approval signing key, as the stack creates it: asymmetric, sign and verify only.
  const signingKey = await client(KMSClient, endpoint).send(
    new CreateKeyCommand({
      Description: 'keyrot: approval signatures',
      KeyUsage: 'SIGN_VERIFY',
      KeySpec: 'ECC_NIST_P256',
    }),
  );
  const s3 = new S3Client({ endpoint, region: REGION, credentials: bootstrap, forcePathStyle: true });
  // Object Lock turns versioning on; retention is set per object by the archiver.
  await s3.send(new CreateBucketCommand({ Bucket: LOCAL_ARCHIVE_BUCKET, ObjectLockEnabledForBucket: true }));
  await s3.send(new CreateBucketCommand({ Bucket: LOCAL_SCAN_BUCKET }));
  return {
    AWS_ENDPOINT_URL: endpoint,
    AWS_REGION: REGION,
    AWS_ACCESS_KEY_ID: AccessKey?.AccessKeyId ?? '',
    AWS_SECRET_ACCESS_KEY: AccessKey?.SecretAccessKey ?? '',
    KEYROT_TOPIC_ARN: topic.TopicArn ?? '',
    KEYROT_APPROVALS_TABLE: LOCAL_APPROVALS_TABLE,
    KEYROT_SECRET_PREFIX: 'keyrot/',
    KEYROT_LINK_KEY_SECRET: linkKey.ARN ?? 'keyrot/approval-link-key',
    KEYROT_APPROVERS: DEMO_APPROVERS.filter((approver) => approver.allowed)
      .map((approver) => approver.username)
      .join(','),
    KEYROT_APPROVER_POOL_ID: approvers.poolId,
    KEYROT_APPROVER_CLIENT_ID: approvers.clientId,
    KEYROT_ARCHIVE_BUCKET: LOCAL_ARCHIVE_BUCKET,
    KEYROT_SCAN_BUCKET: LOCAL_SCAN_BUCKET,
    KEYROT_SIGNING_KEY_ID: signingKey.KeyMetadata?.Arn ?? '',
  };
}

/** The approvers' user pool, as the stack creates it, with the demo approvers in it. */
async function seedApprovers(endpoint: string): Promise<{ poolId: string; clientId: string }> {
  const cognito = client(CognitoIdentityProviderClient, endpoint);
  const pool = await cognito.send(new CreateUserPoolCommand({ PoolName: 'keyrot-approvers' }));
  const poolId = pool.UserPool?.Id ?? '';
  const appClient = await cognito.send(
    new CreateUserPoolClientCommand({
      UserPoolId: poolId,
      ClientName: 'signing',
      ExplicitAuthFlows: ['ALLOW_USER_PASSWORD_AUTH', 'ALLOW_REFRESH_TOKEN_AUTH'],
      // As the stack sets it (moto does not enforce it): approvers write no attribute of their own.
      WriteAttributes: ['email'],
    }),
  );
  const ddb = DynamoDBDocumentClient.from(client(DynamoDBClient, endpoint));
  for (const approver of DEMO_APPROVERS) {
    const created = await cognito.send(
      new AdminCreateUserCommand({
        UserPoolId: poolId,
        Username: approver.username,
        UserAttributes: [{ Name: 'name', Value: approver.name }],
        MessageAction: 'SUPPRESS',
      }),
    );
    const sub = created.User?.Attributes?.find((attribute) => attribute.Name === 'sub')?.Value ?? '';
    await putDirectoryEntry(ddb, LOCAL_APPROVALS_TABLE, {
      sub,
      username: approver.username,
      name: approver.name,
      ...(approver.principalArn ? { principalArn: approver.principalArn } : {}),
      addedAt: new Date().toISOString(),
    });
    await cognito.send(
      new AdminSetUserPasswordCommand({
        UserPoolId: poolId,
        Username: approver.username,
        Password: approver.password,
        Permanent: true,
      }),
    );
  }
  return { poolId, clientId: appClient.UserPoolClient?.ClientId ?? '' };
}

/**
 * Make a second moto account a keyrot member (signature checks still off): its KeyrotMember
 * role, trusting the keyrot account with the external id, as the member stack creates it.
 */
export async function seedMemberAccount(endpoint: string, account: string, externalId: string): Promise<void> {
  const assumed = await client(STSClient, endpoint).send(
    new AssumeRoleCommand({
      RoleArn: `arn:aws:iam::${account}:role/KeyrotMember`,
      RoleSessionName: 'seed',
      ExternalId: externalId,
    }),
  );
  const iam = client(IAMClient, endpoint, {
    accessKeyId: assumed.Credentials?.AccessKeyId ?? '',
    secretAccessKey: assumed.Credentials?.SecretAccessKey ?? '',
    sessionToken: assumed.Credentials?.SessionToken,
  });
  await iam.send(
    new CreateRoleCommand({
      RoleName: 'KeyrotMember',
      AssumeRolePolicyDocument: JSON.stringify({
        Version: '2012-10-17',
        Statement: [
          {
            Effect: 'Allow',
            Principal: { AWS: 'arn:aws:iam::123456789012:root' },
            Action: 'sts:AssumeRole',
            Condition: { StringEquals: { 'sts:ExternalId': externalId } },
          },
        ],
      }),
    }),
  );
  await iam.send(
    new PutRolePolicyCommand({
      RoleName: 'KeyrotMember',
      PolicyName: 'local-member',
      PolicyDocument: JSON.stringify({
        Version: '2012-10-17',
        Statement: [{ Effect: 'Allow', Action: ['iam:*', 'secretsmanager:*'], Resource: '*' }],
      }),
    }),
  );
}

/**
 * Create an IAM user with one access key, as a service account looks before its first
 * rotation. With `onboard`, the key is also stored as the secret's AWSCURRENT, where the
 * consumer reads it from (signature checks must still be off, or `as` must be an operator).
 */
export async function seedUser(
  endpoint: string,
  userName: string,
  options: { onboard?: boolean; as?: LocalKey; secretPrefix?: string } = {},
): Promise<LocalKey> {
  const iam = client(IAMClient, endpoint, options.as);
  await iam.send(new CreateUserCommand({ UserName: userName }));
  const { AccessKey } = await iam.send(new CreateAccessKeyCommand({ UserName: userName }));
  const key = { accessKeyId: AccessKey?.AccessKeyId ?? '', secretAccessKey: AccessKey?.SecretAccessKey ?? '' };
  if (options.onboard) {
    await client(SecretsManagerClient, endpoint, options.as).send(
      new CreateSecretCommand({
        Name: `${options.secretPrefix ?? 'keyrot/'}${userName}`,
        SecretString: JSON.stringify(key),
        Tags: [{ Key: 'keyrot:user', Value: userName }],
      }),
    );
  }
  return key;
}
