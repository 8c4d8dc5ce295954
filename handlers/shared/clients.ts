import { CognitoIdentityProviderClient } from '@aws-sdk/client-cognito-identity-provider';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { IAMClient } from '@aws-sdk/client-iam';
import { S3Client } from '@aws-sdk/client-s3';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SFNClient } from '@aws-sdk/client-sfn';
import { SNSClient } from '@aws-sdk/client-sns';
import { STSClient } from '@aws-sdk/client-sts';
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
  /** STS as this function's own role (identity, AssumeRole into member accounts). */
  sts: STSClient;
  /** An STS client that signs with the given key; used to prove a key works (or not). */
  stsFor: (credentials: { accessKeyId: string; secretAccessKey: string }) => STSClient;
}

const maxAttempts = 4;

export const clients: Clients = {
  iam: new IAMClient({ maxAttempts }),
  secrets: new SecretsManagerClient({ maxAttempts }),
  sns: new SNSClient({ maxAttempts }),
  ddb: DynamoDBDocumentClient.from(new DynamoDBClient({ maxAttempts })),
  cognito: new CognitoIdentityProviderClient({ maxAttempts }),
  // moto on 127.0.0.1 has no bucket subdomains: path-style addressing when the endpoint is overridden.
  s3: new S3Client({ maxAttempts, forcePathStyle: Boolean(process.env.AWS_ENDPOINT_URL) }),
  sfn: new SFNClient({ maxAttempts }),
  sts: new STSClient({ maxAttempts }),
  // One attempt: the state machine's Retry owns the backoff for eventual consistency.
  stsFor: (credentials) => new STSClient({ credentials, maxAttempts: 1 }),
};

/** Deployment settings read from the environment, with the defaults local mode uses. */
export interface Settings {
  secretPrefix: string;
  exemptTag: string;
  topicArn: string | undefined;
  approvalsTable: string | undefined;
  kmsKeyId: string | undefined;
  /** Where approval links point: the deployed function URL, or the local approval server. */
  approvalBaseUrl: string | undefined;
  /** The Secrets Manager secret holding the HMAC key for approval links and CSRF tokens. */
  linkKeySecret: string | undefined;
  /** User names allowed to sign approvals. */
  approvers: string[];
  /** The Cognito app client approvers authenticate through (USER_PASSWORD_AUTH). */
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
    approvalBaseUrl: process.env.KEYROT_APPROVAL_BASE_URL?.replace(/\/+$/, '') || undefined,
    linkKeySecret: process.env.KEYROT_LINK_KEY_SECRET || undefined,
    approvers: (process.env.KEYROT_APPROVERS ?? '')
      .split(',')
      .map((name) => name.trim())
      .filter(Boolean),
    approverClientId: process.env.KEYROT_APPROVER_CLIENT_ID || undefined,
  };
}
