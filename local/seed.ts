import { CreateTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { CreateAccessKeyCommand, CreateUserCommand, IAMClient, PutUserPolicyCommand } from '@aws-sdk/client-iam';
import { CreateSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { CreateTopicCommand, SNSClient } from '@aws-sdk/client-sns';

/** Credentials of an IAM user in the local AWS. */
export interface LocalKey {
  accessKeyId: string;
  secretAccessKey: string;
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
}

const REGION = 'us-east-1';
const bootstrap = { accessKeyId: 'bootstrap', secretAccessKey: 'bootstrap' };

function client<T>(Client: new (config: object) => T, endpoint: string, credentials: LocalKey = bootstrap): T {
  return new Client({ endpoint, region: REGION, credentials });
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
  const { AccessKey } = await iam.send(new CreateAccessKeyCommand({ UserName: 'keyrot-operator' }));
  const topic = await client(SNSClient, endpoint).send(new CreateTopicCommand({ Name: 'keyrot-notifications' }));
  await client(DynamoDBClient, endpoint).send(
    new CreateTableCommand({
      TableName: 'keyrot-approvals',
      KeySchema: [{ AttributeName: 'approvalId', KeyType: 'HASH' }],
      AttributeDefinitions: [{ AttributeName: 'approvalId', AttributeType: 'S' }],
      BillingMode: 'PAY_PER_REQUEST',
    }),
  );
  return {
    AWS_ENDPOINT_URL: endpoint,
    AWS_REGION: REGION,
    AWS_ACCESS_KEY_ID: AccessKey?.AccessKeyId ?? '',
    AWS_SECRET_ACCESS_KEY: AccessKey?.SecretAccessKey ?? '',
    KEYROT_TOPIC_ARN: topic.TopicArn ?? '',
    KEYROT_APPROVALS_TABLE: 'keyrot-approvals',
    KEYROT_SECRET_PREFIX: 'keyrot/',
  };
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
