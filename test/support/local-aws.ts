import { GetAccessKeyLastUsedCommand, IAMClient, ListAccessKeysCommand } from '@aws-sdk/client-iam';
import { DescribeSecretCommand, GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SNSClient, SubscribeCommand } from '@aws-sdk/client-sns';
import { CreateQueueCommand, GetQueueAttributesCommand, ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { CreateStateMachineCommand, SFNClient } from '@aws-sdk/client-sfn';
import { AssumeRoleCommand, GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { recordCallLedger } from '../../local/ledger';
import { startMoto, type Moto } from '../../local/moto';
import {
  LOCAL_OPERATOR_ARN,
  seedKeyrotResources,
  seedMemberAccount,
  seedUser,
  type LocalEnvironment,
  type LocalKey,
} from '../../local/seed';

/** The external id the local member accounts' role requires. */
export const MEMBER_EXTERNAL_ID = 'keyrot-local-external-id';

const REGION = 'us-east-1';

/**
 * One moto server per test file, prepared as local mode prepares it: operator identity,
 * topic (with an SQS queue subscribed, so tests read every notification), approvals table,
 * and signature checks on. The handlers' environment points at it.
 */
export class LocalAws {
  private constructor(
    readonly moto: Moto,
    readonly environment: LocalEnvironment,
    private readonly queueUrl: string,
  ) {}

  /** Start moto; `members` are further accounts seeded as keyrot members (role KeyrotMember, external id below). */
  static async start(options: { members?: string[] } = {}): Promise<LocalAws> {
    // Local runs and the log lines written outside them go to a directory of this test file's own.
    process.env.KEYROT_HOME ??= mkdtempSync(path.join(tmpdir(), 'keyrot-test-'));
    // Every call a handler makes in this test file joins the ledger the permission proof reads.
    recordCallLedger();
    const moto = await startMoto();
    const environment = await seedKeyrotResources(moto.endpoint);
    const sqs = new SQSClient({ endpoint: moto.endpoint, region: REGION, credentials: bootstrap });
    const queue = await sqs.send(new CreateQueueCommand({ QueueName: 'notifications' }));
    const attributes = await sqs.send(
      new GetQueueAttributesCommand({ QueueUrl: queue.QueueUrl, AttributeNames: ['QueueArn'] }),
    );
    await new SNSClient({ endpoint: moto.endpoint, region: REGION, credentials: bootstrap }).send(
      new SubscribeCommand({
        TopicArn: environment.KEYROT_TOPIC_ARN,
        Protocol: 'sqs',
        Endpoint: attributes.Attributes?.QueueArn,
      }),
    );
    for (const account of options.members ?? []) await seedMemberAccount(moto.endpoint, account, MEMBER_EXTERNAL_ID);
    if (options.members) {
      Object.assign(environment, {
        KEYROT_ACCOUNTS: options.members.join(','),
        KEYROT_EXTERNAL_ID: MEMBER_EXTERNAL_ID,
      });
    }
    Object.assign(process.env, environment);
    await moto.enableAuth();
    return new LocalAws(moto, environment, queue.QueueUrl ?? '');
  }

  get operator(): LocalKey {
    return { accessKeyId: this.environment.AWS_ACCESS_KEY_ID, secretAccessKey: this.environment.AWS_SECRET_ACCESS_KEY };
  }

  /** Who the operator's credentials authenticate as: the requester every local start proves. */
  readonly operatorArn = LOCAL_OPERATOR_ARN;

  private client<T>(Client: new (config: object) => T, credentials: LocalKey = this.operator): T {
    return new Client({ endpoint: this.moto.endpoint, region: REGION, credentials, maxAttempts: 1 });
  }

  /** Credentials in a member account, through its KeyrotMember role, as keyrot gets them. */
  async member(account: string): Promise<LocalKey> {
    const assumed = await this.client(STSClient).send(
      new AssumeRoleCommand({
        RoleArn: `arn:aws:iam::${account}:role/KeyrotMember`,
        RoleSessionName: 'test',
        ExternalId: MEMBER_EXTERNAL_ID,
      }),
    );
    return {
      accessKeyId: assumed.Credentials?.AccessKeyId ?? '',
      secretAccessKey: assumed.Credentials?.SecretAccessKey ?? '',
      sessionToken: assumed.Credentials?.SessionToken,
    };
  }

  /**
   * A state machine in moto's Step Functions standing in for a deployed one: moto records
   * executions (names, inputs, status) without running them. Returns its ARN.
   */
  async stateMachine(name: string): Promise<string> {
    const machine = await this.client(SFNClient).send(
      new CreateStateMachineCommand({
        name,
        definition: JSON.stringify({ StartAt: 'Wait', States: { Wait: { Type: 'Wait', Seconds: 3600, End: true } } }),
        roleArn: 'arn:aws:iam::123456789012:role/keyrot',
      }),
    );
    return machine.stateMachineArn ?? '';
  }

  /** A service user with one key, onboarded into its secret as a consumer would have it. */
  seedUser(userName: string, options: { onboard?: boolean } = { onboard: true }): Promise<LocalKey> {
    return seedUser(this.moto.endpoint, userName, { ...options, as: this.operator });
  }

  async keys(userName: string): Promise<{ id: string; status: string }[]> {
    const listed = await this.client(IAMClient).send(new ListAccessKeysCommand({ UserName: userName }));
    return (listed.AccessKeyMetadata ?? []).map((key) => ({ id: key.AccessKeyId ?? '', status: key.Status ?? '' }));
  }

  /** The key a stage of the user's secret holds, or undefined without that stage. */
  async secretKey(userName: string, stage = 'AWSCURRENT'): Promise<LocalKey | undefined> {
    try {
      const value = await this.client(SecretsManagerClient).send(
        new GetSecretValueCommand({ SecretId: `keyrot/${userName}`, VersionStage: stage }),
      );
      return JSON.parse(value.SecretString ?? '') as LocalKey;
    } catch {
      return undefined;
    }
  }

  async secretStages(userName: string): Promise<Record<string, string[]>> {
    const secret = await this.client(SecretsManagerClient).send(
      new DescribeSecretCommand({ SecretId: `keyrot/${userName}` }),
    );
    return secret.VersionIdsToStages ?? {};
  }

  /** STS's answer for a key: the caller ARN, or the error name it refused with. */
  async whoIs(key: LocalKey): Promise<string> {
    try {
      return (await this.client(STSClient, key).send(new GetCallerIdentityCommand({}))).Arn ?? '';
    } catch (error) {
      return (error as Error).name;
    }
  }

  /** Sign one request with the key, as a consumer that switched to it would. */
  async use(key: LocalKey): Promise<void> {
    await this.whoIs(key);
  }

  async lastUsed(keyId: string): Promise<Date | undefined> {
    const result = await this.client(IAMClient).send(new GetAccessKeyLastUsedCommand({ AccessKeyId: keyId }));
    return result.AccessKeyLastUsed?.LastUsedDate;
  }

  /** Every notification published so far (drains the subscribed queue). */
  async notifications(): Promise<string[]> {
    const sqs = this.client(SQSClient);
    const bodies: string[] = [];
    for (let round = 0; round < 50; round += 1) {
      const received = await sqs.send(
        new ReceiveMessageCommand({ QueueUrl: this.queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 0 }),
      );
      if (!received.Messages?.length) break;
      bodies.push(...received.Messages.map((message) => message.Body ?? ''));
    }
    return bodies;
  }

  stop(): Promise<void> {
    return this.moto.stop();
  }
}

const bootstrap = { accessKeyId: 'bootstrap', secretAccessKey: 'bootstrap' };
