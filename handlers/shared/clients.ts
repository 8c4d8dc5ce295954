import type { CognitoIdentityProviderClient } from '@aws-sdk/client-cognito-identity-provider';
import type { IAMClient } from '@aws-sdk/client-iam';
import type { KMSClient } from '@aws-sdk/client-kms';
import type { S3Client } from '@aws-sdk/client-s3';
import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { SFNClient } from '@aws-sdk/client-sfn';
import type { SNSClient } from '@aws-sdk/client-sns';
import type { STSClient } from '@aws-sdk/client-sts';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { accountClients } from './aws/account';
import { cognito } from './aws/cognito';
import { ddb } from './aws/ddb';
import { iam } from './aws/iam';
import { kms } from './aws/kms';
import { s3 } from './aws/s3';
import { secrets } from './aws/secrets';
import { sfn } from './aws/sfn';
import { sns } from './aws/sns';
import { keySigned, sts } from './aws/sts';

export { settings, type Settings } from './settings';

/**
 * The AWS clients keyrot uses. Created once per Lambda container; every client honours
 * `AWS_ENDPOINT_URL`, which is how local mode points them at moto unchanged. A handler imports
 * only the ones its step calls from `./aws/` (each SDK package it loads costs cold start); the
 * CLI, the local runtime and the tests take them all from here.
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

export const clients: Clients = {
  iam,
  secrets,
  sns,
  ddb,
  cognito,
  s3,
  sfn,
  kms,
  sts,
  get stsFor() {
    return keySigned.stsFor;
  },
  set stsFor(make) {
    keySigned.stsFor = make;
  },
};

/**
 * All the clients, with IAM and Secrets Manager in the account a rotation's user lives in
 * (through the member role for a member account; see `accountClients`).
 */
export async function clientsFor(account: string | undefined): Promise<Clients> {
  return { ...clients, ...(await accountClients(account)) };
}
