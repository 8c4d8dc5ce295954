import * as path from 'node:path';
import { CfnOutput, Duration, Fn, RemovalPolicy, Stack, Validations, type StackProps } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cognito from 'aws-cdk-lib/aws-cognito';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as destinations from 'aws-cdk-lib/aws-lambda-destinations';
import * as nodejs from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as schedulerTargets from 'aws-cdk-lib/aws-scheduler-targets';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import type { Construct } from 'constructs';
import { APPROVAL_INDEXES, BY_EXECUTION } from '../handlers/shared/approval-indexes';
import { HANDLER_NAMES, rotationDefinition, type HandlerName } from '../workflows/rotation';
import { SCAN_HANDLER_NAMES, scanDefinition, type ScanHandlerName } from '../workflows/scan';

const ROOT = path.resolve(import.meta.dirname, '..');

export interface KeyrotStackProps extends StackProps {
  /** IAM path of the users keyrot may rotate (`/` for all). */
  readonly managedUserPath?: string;
  /** When set, only users carrying this tag with value `true` may be rotated. */
  readonly managedUserTag?: string;
  /** Secrets Manager name prefix for the users' key secrets. */
  readonly secretPrefix?: string;
  /** How long an approval gate waits for a decision (default one day, at most seven). */
  readonly approvalTimeout?: Duration;
  /** User names (in the approvers' Cognito user pool) allowed to sign approvals. */
  readonly approvers?: string[];
  /** Member accounts keyrot scans and rotates through their KeyrotMember role, or `organizations`. */
  readonly memberAccounts?: string[] | 'organizations';
  /** The external id the member roles require. */
  readonly externalId?: string;
  /** When the daily scan runs (EventBridge Scheduler cron, UTC); default 06:00. */
  readonly scanSchedule?: string;
  /** How many rotations the scan starts at once (1 to 100; each due list's starts run this many at a time); default 10. */
  readonly scanConcurrency?: number;
  /** How long archived execution records stay locked (Object Lock, COMPLIANCE mode). Default 7 years. */
  readonly archiveRetentionDays?: number;
}

/** Seven years, leap days included: the default retention of the evidence archive. */
export const DEFAULT_ARCHIVE_RETENTION_DAYS = 2557;

/** How long a scan's due lists and start outcomes stay in the scan bucket. */
const SCAN_LIST_DAYS = 14;

/** IAM actions each handler needs on the managed users; nothing else touches IAM. */
const IAM_ACTIONS: Partial<Record<HandlerName, string[]>> = {
  'detect-keys': ['iam:GetUser', 'iam:ListAccessKeys', 'iam:GetAccessKeyLastUsed'],
  'create-key': ['iam:ListAccessKeys', 'iam:CreateAccessKey', 'iam:DeleteAccessKey'],
  'check-key-used': ['iam:GetAccessKeyLastUsed'],
  // On refusal, Verify looks whether the new key still exists (a deleted key skips the wait).
  'verify-key': ['iam:ListAccessKeys'],
  // The old key is not deactivated while a consumer still uses it (its last use after distribution).
  'deactivate-key': ['iam:ListAccessKeys', 'iam:GetAccessKeyLastUsed', 'iam:UpdateAccessKey'],
  // The deletion gate's page warns when the old key was used after the new key was distributed.
  'request-approval': ['iam:GetAccessKeyLastUsed'],
  'delete-key': ['iam:ListAccessKeys', 'iam:DeleteAccessKey'],
  'roll-back': ['iam:ListAccessKeys', 'iam:UpdateAccessKey', 'iam:DeleteAccessKey'],
};

/** Secrets Manager actions each handler needs on the users' key secrets. */
const SECRET_ACTIONS: Partial<Record<HandlerName, string[]>> = {
  // Detect checks the secret holds the active key in a known shape before anything is created.
  'detect-keys': ['secretsmanager:DescribeSecret', 'secretsmanager:GetSecretValue'],
  'create-key': [
    'secretsmanager:DescribeSecret',
    'secretsmanager:GetSecretValue',
    'secretsmanager:CreateSecret',
    'secretsmanager:PutSecretValue',
    'secretsmanager:TagResource',
  ],
  'distribute-key': ['secretsmanager:DescribeSecret', 'secretsmanager:UpdateSecretVersionStage'],
  'verify-key': ['secretsmanager:GetSecretValue'],
  'deactivate-key': ['secretsmanager:GetSecretValue'],
  'delete-key': ['secretsmanager:GetSecretValue'],
  'confirm-old-key-refused': ['secretsmanager:GetSecretValue'],
  'roll-back': [
    'secretsmanager:DescribeSecret',
    'secretsmanager:GetSecretValue',
    'secretsmanager:UpdateSecretVersionStage',
    'secretsmanager:DeleteSecret',
  ],
};

const NOTIFIERS: HandlerName[] = [
  'distribute-key',
  'request-approval',
  'await-consumer',
  'finish-rotation',
  'roll-back',
];

/**
 * KMS actions each handler's Secrets Manager calls make with its permissions: reading a
 * secret decrypts it, writing one makes a data key (and Secrets Manager decrypts to check it).
 */
const SECRET_KMS_ACTIONS: Partial<Record<HandlerName, string[]>> = {
  'detect-keys': ['kms:Decrypt'],
  'create-key': ['kms:Decrypt', 'kms:GenerateDataKey'],
  'verify-key': ['kms:Decrypt'],
  'deactivate-key': ['kms:Decrypt'],
  'delete-key': ['kms:Decrypt'],
  'confirm-old-key-refused': ['kms:Decrypt'],
  'roll-back': ['kms:Decrypt'],
};

/** Who uses the approval signing key: the approval function signs, the checks before and at deletion verify. */
const SIGNING_KEY_ACTIONS: Partial<Record<FunctionName, string[]>> = {
  'approval-api': ['kms:Sign'],
  // Verification is offline with the public key, fetched once per container.
  'check-approval': ['kms:GetPublicKey'],
  'deactivate-key': ['kms:GetPublicKey'],
  'delete-key': ['kms:GetPublicKey'],
};

/** How every bucket that holds keyrot's data is kept: the stack key, private, TLS only, access-logged. */
function keyrotBucket(key: kms.Key, accessLogs: s3.Bucket, logPrefix: string): s3.BucketProps {
  return {
    encryption: s3.BucketEncryption.KMS,
    encryptionKey: key,
    bucketKeyEnabled: true,
    blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
    enforceSSL: true,
    serverAccessLogsBucket: accessLogs,
    serverAccessLogsPrefix: logPrefix,
  };
}

/** What the approval surface does with the approvals table's items: request-approval writes, approval-api decides. */
const TABLE_ACTIONS = {
  'request-approval': ['dynamodb:PutItem', 'dynamodb:UpdateItem'],
  'approval-api': ['dynamodb:GetItem', 'dynamodb:UpdateItem'],
  // Wait For Consumer writes its confirmation (id derived from the execution: a retry overwrites it).
  'await-consumer': ['dynamodb:PutItem'],
  // The archiver closes what an ended execution left pending (conditionally), reads the approvals'
  // failed sign-ins into the archive, and sets the records' TTL.
  'archive-execution': ['dynamodb:GetItem', 'dynamodb:UpdateItem'],
} as const;

/**
 * The indexes each function queries (never a Scan, and no Query on the table itself): a retried
 * gate finds this execution's stale request, the archiver the execution's records.
 */
const INDEX_QUERIES: Partial<Record<keyof typeof TABLE_ACTIONS, string[]>> = {
  'request-approval': [BY_EXECUTION.name],
  'archive-execution': [BY_EXECUTION.name],
};

/** Every Lambda in the stack: the workflow's handlers, the approval pages and the archiver. */
type FunctionName = HandlerName | ScanHandlerName | 'approval-api' | 'archive-execution';

/**
 * STS refuses an ExternalId outside 2-1224 characters of `[\w+=,.@:/-]`, so every AssumeRole
 * would fail: refuse it at synth, where it can still be fixed.
 */
export function checkExternalId(externalId: string | undefined): void {
  if (!externalId)
    throw new Error('keyrot:externalId is required with member accounts: their roles trust keyrot only with it');
  if (!/^[\w+=,.@:/-]{2,1224}$/.test(externalId))
    throw new Error('keyrot:externalId must be 2 to 1224 characters of letters, digits and +=,.@:/-_ (as STS accepts)');
}

/** The keyrot workflow: handlers, rotation state machine, topic, approvals table, alarms. */
export class KeyrotStack extends Stack {
  readonly stateMachine: sfn.StateMachine;
  readonly stateMachineName: string;
  readonly functions: Record<HandlerName, nodejs.NodejsFunction>;
  readonly scanFunctions: Record<ScanHandlerName, nodejs.NodejsFunction>;
  readonly scanMachine: sfn.StateMachine;
  /** Every Lambda of the stack by name: the workflows' handlers, the approval pages and the archiver. */
  readonly lambdas: Record<FunctionName, nodejs.NodejsFunction>;

  constructor(scope: Construct, id: string, props: KeyrotStackProps = {}) {
    super(scope, id, props);
    const userPath = props.managedUserPath ?? '/';
    const secretPrefix = props.secretPrefix ?? 'keyrot/';
    const approvalTimeout = props.approvalTimeout ?? Duration.days(1);
    if (props.memberAccounts) checkExternalId(props.externalId);
    const scanConcurrency = props.scanConcurrency ?? 10;
    if (!Number.isInteger(scanConcurrency) || scanConcurrency < 1 || scanConcurrency > 100) {
      throw new Error('scanConcurrency must be a whole number from 1 to 100');
    }
    if (approvalTimeout.toSeconds() < 1 || approvalTimeout.toSeconds() > 7 * 86_400) {
      throw new Error('approvalTimeout must be between 1 second and 7 days');
    }

    const key = new kms.Key(this, 'Key', {
      description: 'keyrot: secrets, notifications, approvals and logs',
      enableKeyRotation: true,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    // CloudWatch Logs encrypts the stack's log groups with the key (AWS's documented grant,
    // Describe* included: a log group's creation checks the key).
    key.addToResourcePolicy(
      new iam.PolicyStatement({
        principals: [new iam.ServicePrincipal(`logs.${this.region}.amazonaws.com`)],
        actions: ['kms:Encrypt*', 'kms:Decrypt*', 'kms:ReEncrypt*', 'kms:GenerateDataKey*', 'kms:Describe*'],
        resources: ['*'],
      }),
    );
    // CloudWatch alarms publish to the encrypted alarm topic: SNS asks KMS on CloudWatch's behalf.
    // AWS's documented statement has no condition: whether SNS passes CloudWatch's source
    // account on to KMS is not documented, and a condition on a missing key drops every alarm.
    key.addToResourcePolicy(
      new iam.PolicyStatement({
        principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['kms:Decrypt', 'kms:GenerateDataKey*'],
        resources: ['*'],
      }),
    );

    // Approval signatures (21 CFR 11.70): an asymmetric key whose private half never leaves KMS;
    // auditors verify with its public key, offline. Retained: old signatures must stay verifiable.
    const signingKey = new kms.Key(this, 'SigningKey', {
      description: 'keyrot: approval signatures (ECDSA over the canonical signature manifest)',
      keySpec: kms.KeySpec.ECC_NIST_P256,
      keyUsage: kms.KeyUsage.SIGN_VERIFY,
      removalPolicy: RemovalPolicy.RETAIN,
    });

    const topic = new sns.Topic(this, 'Notifications', { masterKey: key, enforceSSL: true });
    const alarms = new sns.Topic(this, 'Alarms', { masterKey: key, enforceSSL: true });
    // enforceSSL replaces the default topic policy: CloudWatch, a service, needs its own allow.
    alarms.addToResourcePolicy(
      new iam.PolicyStatement({
        principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['sns:Publish'],
        resources: [alarms.topicArn],
        conditions: {
          ArnLike: { 'aws:SourceArn': `arn:${this.partition}:cloudwatch:${this.region}:${this.account}:alarm:*` },
          StringEquals: { 'aws:SourceAccount': this.account },
        },
      }),
    );
    const approvals = new dynamodb.Table(this, 'Approvals', {
      partitionKey: { name: 'approvalId', type: dynamodb.AttributeType.STRING },
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      encryption: dynamodb.TableEncryption.CUSTOMER_MANAGED,
      encryptionKey: key,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      // Sign-in counters carry it from the start (a day after their approval expires); approval
      // records once their execution is archived (as long as the archive's lock), never while PENDING.
      timeToLiveAttribute: 'ttl',
      removalPolicy: RemovalPolicy.RETAIN,
    });
    for (const index of APPROVAL_INDEXES) {
      approvals.addGlobalSecondaryIndex({
        indexName: index.name,
        partitionKey: { name: index.partitionKey, type: dynamodb.AttributeType.STRING },
        ...(index.sortKey ? { sortKey: { name: index.sortKey, type: dynamodb.AttributeType.STRING } } : {}),
        projectionType: dynamodb.ProjectionType.INCLUDE,
        nonKeyAttributes: [...index.projected],
      });
    }
    // Explicit statements, not Table.grant: with indexes it adds every action on `index/*` too.
    const grantTable = (fn: lambda.IFunction, name: keyof typeof TABLE_ACTIONS) => {
      fn.addToRolePolicy(
        new iam.PolicyStatement({ actions: [...TABLE_ACTIONS[name]], resources: [approvals.tableArn] }),
      );
      const indexes = INDEX_QUERIES[name];
      if (indexes)
        fn.addToRolePolicy(
          new iam.PolicyStatement({
            actions: ['dynamodb:Query'],
            resources: indexes.map((index) => `${approvals.tableArn}/index/${index}`),
          }),
        );
    };

    const trimmedPath = userPath.replace(/^\/|\/$/g, '');
    const userResourceName = trimmedPath ? `${trimmedPath}/*` : '*';
    const userArn = this.formatArn({
      service: 'iam',
      region: '',
      resource: 'user',
      resourceName: userResourceName,
    });
    const secretArn = this.formatArn({
      service: 'secretsmanager',
      resource: 'secret',
      resourceName: `${secretPrefix}*`,
      arnFormat: 'arn:aws:service:region:account:resource:resourceName' as never,
    });
    const tagCondition = props.managedUserTag
      ? { StringEquals: { [`iam:ResourceTag/${props.managedUserTag}`]: 'true' } }
      : undefined;

    // Approvers sign with user name and password at the moment of signing (21 CFR 11.200).
    const approverPool = new cognito.UserPool(this, 'Approvers', {
      selfSignUpEnabled: false,
      signInAliases: { username: true },
      // The printed name signatures carry lives in keyrot's approver directory; the pool's `name`
      // is shown by keyrot approvers list only. Not required: required attributes must be
      // writable by the app client, and approvers may write none that keyrot trusts.
      standardAttributes: { fullname: { required: false, mutable: true } },
      passwordPolicy: {
        minLength: 12,
        requireDigits: true,
        requireLowercase: true,
        requireUppercase: true,
        requireSymbols: true,
      },
      accountRecovery: cognito.AccountRecovery.NONE,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    const approverClient = approverPool.addClient('Signing', {
      authFlows: { userPassword: true },
      generateSecret: false,
      preventUserExistenceErrors: true,
      // Signing is user name and password on keyrot's own page: no hosted UI, no OAuth flows or callbacks.
      disableOAuth: true,
      // An approver's own access token may not rewrite their name (or anything keyrot reads).
      writeAttributes: new cognito.ClientAttributes().withStandardAttributes({ email: true }),
    });
    const linkKey = new secretsmanager.Secret(this, 'ApprovalLinkKey', {
      description: 'keyrot: HMAC key for approval links and CSRF tokens',
      encryptionKey: key,
      generateSecretString: { passwordLength: 64, excludePunctuation: true },
    });

    const environment = {
      KEYROT_SECRET_PREFIX: secretPrefix,
      KEYROT_USER_PATH: userPath,
      ...(props.managedUserTag ? { KEYROT_USER_TAG: props.managedUserTag } : {}),
      KEYROT_TOPIC_ARN: topic.topicArn,
      KEYROT_APPROVALS_TABLE: approvals.tableName,
      KEYROT_KMS_KEY_ID: key.keyArn,
      KEYROT_SIGNING_KEY_ID: signingKey.keyArn,
      KEYROT_LINK_KEY_SECRET: linkKey.secretArn,
      ...(props.memberAccounts
        ? {
            KEYROT_ACCOUNTS:
              props.memberAccounts === 'organizations' ? 'organizations' : props.memberAccounts.join(','),
            KEYROT_EXTERNAL_ID: props.externalId ?? '',
            KEYROT_MEMBER_ROLE: 'KeyrotMember',
          }
        : {}),
      POWERTOOLS_SERVICE_NAME: 'keyrot',
      POWERTOOLS_LOG_LEVEL: 'INFO',
    };

    const makeFunction = (
      name: FunctionName,
      environment: Record<string, string>,
      size: Pick<nodejs.NodejsFunctionProps, 'memorySize' | 'timeout'> = {},
    ) =>
      new nodejs.NodejsFunction(this, name, {
        entry: path.join(ROOT, 'handlers', `${name}.ts`),
        projectRoot: ROOT,
        depsLockFilePath: path.join(ROOT, 'package-lock.json'),
        runtime: lambda.Runtime.NODEJS_24_X,
        architecture: lambda.Architecture.ARM_64,
        memorySize: 256,
        timeout: Duration.minutes(1),
        ...size,
        tracing: lambda.Tracing.ACTIVE,
        environment,
        logGroup: new logs.LogGroup(this, `${name}-logs`, {
          retention: logs.RetentionDays.ONE_YEAR,
          encryptionKey: key,
          removalPolicy: RemovalPolicy.RETAIN,
        }),
        bundling: {
          format: nodejs.OutputFormat.ESM,
          minify: true,
          sourceMap: true,
          target: 'node24',
          mainFields: ['module', 'main'],
          // The runtime's SDK v3 stays outside the bundle. Bundled and tree-shaken it loads faster, but it
          // adds 300-500 KiB to every function, 2-4 times the 150 KiB budget (bench/bundles.ts, RESULTS.md).
          externalModules: ['@aws-sdk/*'],
          banner: "import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);",
        },
      });

    const approvalApi = makeFunction('approval-api', {
      ...environment,
      KEYROT_APPROVER_CLIENT_ID: approverClient.userPoolClientId,
      KEYROT_APPROVERS: (props.approvers ?? []).join(','),
    });
    const approvalUrl = approvalApi.addFunctionUrl({ authType: lambda.FunctionUrlAuthType.NONE });
    grantTable(approvalApi, 'approval-api');
    // DynamoDB decrypts the table's items with the caller's permission on the key.
    key.grantDecrypt(approvalApi);
    approvalApi.addToRolePolicy(
      new iam.PolicyStatement({ actions: ['secretsmanager:GetSecretValue'], resources: [linkKey.secretArn] }),
    );
    signingKey.grant(approvalApi, ...(SIGNING_KEY_ACTIONS['approval-api'] ?? []));

    // Into member accounts only through their KeyrotMember role (which demands the external id).
    const memberRoles =
      props.memberAccounts === 'organizations'
        ? [`arn:${this.partition}:iam::*:role/KeyrotMember`]
        : (props.memberAccounts ?? []).map((account) => `arn:${this.partition}:iam::${account}:role/KeyrotMember`);
    const assumeMemberRole = new iam.PolicyStatement({ actions: ['sts:AssumeRole'], resources: memberRoles });
    const functions = {} as Record<HandlerName, nodejs.NodejsFunction>;
    for (const name of HANDLER_NAMES) {
      const fn = makeFunction(
        name,
        name === 'request-approval' || name === 'await-consumer'
          ? { ...environment, KEYROT_APPROVAL_BASE_URL: approvalUrl.url }
          : environment,
      );
      const iamActions = IAM_ACTIONS[name];
      if (iamActions) {
        fn.addToRolePolicy(
          new iam.PolicyStatement({ actions: iamActions, resources: [userArn], conditions: tagCondition }),
        );
      }
      const secretActions = SECRET_ACTIONS[name];
      if (secretActions) {
        fn.addToRolePolicy(new iam.PolicyStatement({ actions: secretActions, resources: [secretArn] }));
        const kmsActions = SECRET_KMS_ACTIONS[name];
        if (kmsActions) key.grant(fn, ...kmsActions);
      }
      if (NOTIFIERS.includes(name)) topic.grantPublish(fn);
      const signingActions = SIGNING_KEY_ACTIONS[name];
      if (signingActions) signingKey.grant(fn, ...signingActions);
      if (props.memberAccounts && (iamActions || secretActions)) fn.addToRolePolicy(assumeMemberRole);
      functions[name] = fn;
    }
    grantTable(functions['request-approval'], 'request-approval');
    key.grantDecrypt(functions['request-approval']);
    // The consumer's proof is replayed to STS unsigned by any role (the consumer's key signed it):
    // approval-api needs nothing new; Wait For Consumer only records the confirmation.
    grantTable(functions['await-consumer'], 'await-consumer');
    key.grantDecrypt(functions['await-consumer']);
    functions['request-approval'].addToRolePolicy(
      new iam.PolicyStatement({ actions: ['secretsmanager:GetSecretValue'], resources: [linkKey.secretArn] }),
    );
    // Detect reads (never uses) what the rotation will need, so a missing one fails before a key exists.
    functions['detect-keys'].addToRolePolicy(
      new iam.PolicyStatement({ actions: ['sns:GetTopicAttributes'], resources: [topic.topicArn] }),
    );
    functions['detect-keys'].addToRolePolicy(
      new iam.PolicyStatement({ actions: ['dynamodb:DescribeTable'], resources: [approvals.tableArn] }),
    );
    functions['detect-keys'].addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['cognito-idp:DescribeUserPoolClient'],
        resources: [approverPool.userPoolArn],
      }),
    );
    functions['detect-keys'].addEnvironment('KEYROT_APPROVER_POOL_ID', approverPool.userPoolId);
    functions['detect-keys'].addEnvironment('KEYROT_APPROVER_CLIENT_ID', approverClient.userPoolClientId);
    functions['detect-keys'].addToRolePolicy(
      new iam.PolicyStatement({ actions: ['secretsmanager:DescribeSecret'], resources: [linkKey.secretArn] }),
    );

    const logGroup = new logs.LogGroup(this, 'StateMachineLogs', {
      retention: logs.RetentionDays.ONE_YEAR,
      encryptionKey: key,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    const stateMachineName = `${this.stackName}-rotation`;
    this.stateMachineName = stateMachineName;
    this.stateMachine = new sfn.StateMachine(this, 'Rotation', {
      stateMachineName,
      stateMachineType: sfn.StateMachineType.STANDARD,
      definitionBody: sfn.DefinitionBody.fromChainable(rotationDefinition(this, functions, { approvalTimeout })),
      // Execution data is left out of the logs: inputs and outputs stay in the history only.
      logs: { destination: logGroup, level: sfn.LogLevel.ALL, includeExecutionData: false },
      tracingEnabled: true,
      // Bounds a stuck execution. Each configurable wait is at most 7 days (schemas.ts), so three
      // of them fit; 24 days also stays within a 32-bit millisecond timer for the local engine.
      timeout: Duration.days(24),
    });
    this.functions = functions;
    // Server access logs of the evidence archive and of the scan's due lists.
    const accessLogs = new s3.Bucket(this, 'EvidenceAccessLogs', {
      encryption: s3.BucketEncryption.S3_MANAGED,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      versioned: true,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    const archiver = this.evidenceArchive(key, alarms, accessLogs, environment, makeFunction, props);
    // An ended execution's pending approvals can never resume it: the archiver closes them.
    grantTable(archiver, 'archive-execution');

    // The daily scan: credential reports in, DUE users in lists in S3, one rotation per DUE user
    // out, a summary to the topic. The lists are working data (the rotations' own histories are
    // the record): encrypted with the keyrot key, expired after two weeks.
    const scanLists = new s3.Bucket(this, 'ScanLists', {
      ...keyrotBucket(key, accessLogs, 'scan-lists/'),
      lifecycleRules: [{ expiration: Duration.days(SCAN_LIST_DAYS) }],
      removalPolicy: RemovalPolicy.RETAIN,
    });
    const scanFunctions = {} as Record<ScanHandlerName, nodejs.NodejsFunction>;
    for (const name of SCAN_HANDLER_NAMES) {
      scanFunctions[name] = makeFunction(
        name,
        {
          ...environment,
          KEYROT_STATE_MACHINE_ARN: this.stateMachine.stateMachineArn,
          KEYROT_SCAN_BUCKET: scanLists.bucketName,
        },
        name === 'scan-fleet'
          ? { memorySize: 512, timeout: Duration.minutes(15) }
          : name === 'start-rotation'
            ? { timeout: Duration.minutes(5) }
            : {},
      );
    }
    // Scan Accounts writes the lists; each Start Due List reads one and writes its outcomes beside it.
    const scanObjects = scanLists.arnForObjects('scans/*');
    for (const [name, actions] of [
      ['scan-fleet', ['s3:PutObject']],
      ['start-rotation', ['s3:GetObject', 's3:PutObject']],
    ] as const) {
      scanFunctions[name].addToRolePolicy(new iam.PolicyStatement({ actions: [...actions], resources: [scanObjects] }));
    }
    // Writes with the bucket key need a data key; reads decrypt it.
    key.grant(scanFunctions['scan-fleet'], 'kms:GenerateDataKey');
    key.grant(scanFunctions['start-rotation'], 'kms:GenerateDataKey', 'kms:Decrypt');
    scanFunctions['scan-fleet'].addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['iam:GenerateCredentialReport', 'iam:GetCredentialReport'],
        resources: ['*'],
      }),
    );
    scanFunctions['scan-fleet'].addToRolePolicy(
      new iam.PolicyStatement({ actions: ['iam:ListUserTags'], resources: [userArn], conditions: tagCondition }),
    );
    if (props.memberAccounts) scanFunctions['scan-fleet'].addToRolePolicy(assumeMemberRole);
    if (props.memberAccounts === 'organizations') {
      scanFunctions['scan-fleet'].addToRolePolicy(
        new iam.PolicyStatement({ actions: ['organizations:ListAccounts'], resources: ['*'] }),
      );
      // Every member's role, wherever the organization has accounts: the role itself demands the external id.
      for (const fn of [...Object.values(functions), scanFunctions['scan-fleet']]) {
        Validations.of(fn).acknowledge({
          id: 'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:iam::*:role/KeyrotMember]',
          reason:
            'Organizations mode: any member account of the organization, only through its KeyrotMember role, which demands the external id.',
        });
      }
    }
    this.stateMachine.grantStartExecution(scanFunctions['start-rotation']);
    topic.grantPublish(scanFunctions['send-summary']);
    this.scanFunctions = scanFunctions;
    const scanLogs = new logs.LogGroup(this, 'ScanLogs', {
      retention: logs.RetentionDays.ONE_YEAR,
      encryptionKey: key,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    this.scanMachine = new sfn.StateMachine(this, 'Scan', {
      stateMachineName: `${this.stackName}-scan`,
      stateMachineType: sfn.StateMachineType.STANDARD,
      definitionBody: sfn.DefinitionBody.fromChainable(
        scanDefinition(this, scanFunctions, { maxConcurrency: scanConcurrency }),
      ),
      logs: { destination: scanLogs, level: sfn.LogLevel.ALL, includeExecutionData: false },
      tracingEnabled: true,
      timeout: Duration.hours(6),
    });
    new scheduler.Schedule(this, 'DailyScan', {
      description: 'keyrot: scan every account and start the due rotations',
      schedule: scheduler.ScheduleExpression.expression(props.scanSchedule ?? 'cron(0 6 * * ? *)'),
      target: new schedulerTargets.StepFunctionsStartExecution(this.scanMachine, {
        input: scheduler.ScheduleTargetInput.fromObject({}),
      }),
    });
    new CfnOutput(this, 'ScanStateMachineArn', { value: this.scanMachine.stateMachineArn });
    new CfnOutput(this, 'ScanListsBucketName', { value: scanLists.bucketName });
    const scanListsId = this.resolve(this.getLogicalId(scanLists.node.defaultChild as s3.CfnBucket)) as string;
    for (const name of ['scan-fleet', 'start-rotation'] as const) {
      Validations.of(scanFunctions[name]).acknowledge({
        id: `AwsSolutions-IAM5[Resource::<${scanListsId}.Arn>/scans/*]`,
        reason:
          'Due lists are written per scan execution at run time, under the scans/ prefix of the scan bucket only.',
      });
    }
    // SendTaskSuccess/Failure take no resource in IAM (the task token names the execution), so
    // a statement scoped to the state machine would never match: holding a token is the bound.
    approvalApi.addToRolePolicy(
      new iam.PolicyStatement({ actions: ['states:SendTaskSuccess', 'states:SendTaskFailure'], resources: ['*'] }),
    );

    // A rollback that could not restore the old key needs a human: alarm on it.
    const rollbackFailed = new logs.MetricFilter(this, 'RollbackFailedFilter', {
      logGroup: functions['roll-back'].logGroup,
      metricNamespace: 'keyrot',
      metricName: 'RollbackFailed',
      filterPattern: logs.FilterPattern.stringValue('$.outcome', '=', 'ROLLBACK_FAILED'),
      metricValue: '1',
    });
    const alarmOn = (id: string, metric: cloudwatch.IMetric, description: string) =>
      new cloudwatch.Alarm(this, id, {
        metric,
        threshold: 1,
        evaluationPeriods: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        alarmDescription: description,
      }).addAlarmAction(new actions.SnsAction(alarms));
    alarmOn(
      'RollbackFailedAlarm',
      rollbackFailed.metric({ statistic: 'Sum', period: Duration.minutes(5) }),
      'A rotation could not be rolled back: a human must look at the user named in the execution.',
    );
    alarmOn(
      'RollbackErrorsAlarm',
      functions['roll-back'].metricErrors({ period: Duration.minutes(5) }),
      'The rollback handler itself failed.',
    );
    // An execution that ends FAILED, TIMED_OUT or ABORTED is one an operator must look at.
    const machines = { Rotation: this.stateMachine, Scan: this.scanMachine };
    for (const [label, machine] of Object.entries(machines)) {
      const period = { period: Duration.minutes(5), statistic: 'Sum' };
      alarmOn(`${label}FailedAlarm`, machine.metricFailed(period), `A ${label.toLowerCase()} execution failed.`);
      alarmOn(`${label}TimedOutAlarm`, machine.metricTimedOut(period), `A ${label.toLowerCase()} execution timed out.`);
      alarmOn(`${label}AbortedAlarm`, machine.metricAborted(period), `A ${label.toLowerCase()} execution was aborted.`);
    }

    this.acknowledgeFindings(
      { ...functions, ...this.scanFunctions, 'approval-api': approvalApi, 'archive-execution': archiver },
      {
        userResource: `arn:<AWS::Partition>:iam::<AWS::AccountId>:user/${userResourceName}`,
        secretResource: `arn:<AWS::Partition>:secretsmanager:<AWS::Region>:<AWS::AccountId>:secret:${secretPrefix}*`,
      },
    );
    new CfnOutput(this, 'StateMachineArn', { value: this.stateMachine.stateMachineArn });
    new CfnOutput(this, 'NotificationTopicArn', { value: topic.topicArn });
    new CfnOutput(this, 'ApprovalsTableName', { value: approvals.tableName });
    new CfnOutput(this, 'ApprovalUrl', { value: approvalUrl.url });
    new CfnOutput(this, 'ApproverPoolId', { value: approverPool.userPoolId });
    new CfnOutput(this, 'ApprovalLinkKeyArn', { value: linkKey.secretArn });
    new CfnOutput(this, 'SigningKeyArn', { value: signingKey.keyArn });
    new CfnOutput(this, 'AlarmTopicArn', { value: alarms.topicArn });
    this.lambdas = { ...functions, ...this.scanFunctions, 'approval-api': approvalApi, 'archive-execution': archiver };
    // `handler=roleArn,...`: what `keyrot doctor` simulates each handler's calls against.
    new CfnOutput(this, 'HandlerRoles', {
      value: Fn.join(
        ',',
        Object.entries(this.lambdas).map(([name, fn]) => Fn.join('=', [name, fn.role?.roleArn ?? ''])),
      ),
    });
  }

  /**
   * The evidence archive (21 CFR 11.10(c)(e)): when an execution ends, EventBridge invokes the
   * archiver, which writes the full history to a versioned, KMS-encrypted bucket whose objects
   * are locked in COMPLIANCE mode, chained by SHA-256 per user. Undeliverable events land in
   * a queue that alarms.
   */
  private evidenceArchive(
    key: kms.Key,
    alarms: sns.Topic,
    accessLogs: s3.Bucket,
    environment: Record<string, string>,
    makeFunction: (
      name: FunctionName,
      environment: Record<string, string>,
      size?: Pick<nodejs.NodejsFunctionProps, 'memorySize' | 'timeout'>,
    ) => nodejs.NodejsFunction,
    props: KeyrotStackProps,
  ): nodejs.NodejsFunction {
    const retentionDays = props.archiveRetentionDays ?? DEFAULT_ARCHIVE_RETENTION_DAYS;
    if (!Number.isInteger(retentionDays) || retentionDays < 1)
      throw new Error('archiveRetentionDays must be a whole number of days');
    const bucket = new s3.Bucket(this, 'Evidence', {
      objectLockEnabled: true,
      objectLockDefaultRetention: s3.ObjectLockRetention.compliance(Duration.days(retentionDays)),
      versioned: true,
      ...keyrotBucket(key, accessLogs, 'evidence/'),
      removalPolicy: RemovalPolicy.RETAIN,
    });
    const archiver = makeFunction(
      'archive-execution',
      {
        ...environment,
        KEYROT_ARCHIVE_BUCKET: bucket.bucketName,
        KEYROT_ARCHIVE_RETENTION_DAYS: String(retentionDays),
      },
      // Histories of thousands of events are read in pages of 1,000.
      { memorySize: 512, timeout: Duration.minutes(5) },
    );
    archiver.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['s3:GetObject', 's3:PutObject', 's3:PutObjectRetention'],
        resources: [bucket.arnForObjects('*')],
      }),
    );
    archiver.addToRolePolicy(new iam.PolicyStatement({ actions: ['s3:ListBucket'], resources: [bucket.bucketArn] }));
    // Records are written with a data key (bucket key on) and read back to check a retried write.
    key.grant(archiver, 'kms:GenerateDataKey', 'kms:Decrypt');
    const executions = this.formatArn({
      service: 'states',
      resource: 'execution',
      resourceName: `${this.stateMachineName}:*`,
      arnFormat: 'arn:aws:service:region:account:resource:resourceName' as never,
    });
    archiver.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['states:DescribeExecution', 'states:GetExecutionHistory', 'states:DescribeStateMachineForExecution'],
        resources: [executions],
      }),
    );

    // Events that could not be delivered and invocations that failed after their retries both
    // land here. Their content is an execution ARN and a status, never a secret: SQS-managed
    // encryption keeps EventBridge and Lambda out of the keyrot key's policy.
    const deadLetters = new sqs.Queue(this, 'ArchiveDeadLetters', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    archiver.configureAsyncInvoke({
      onFailure: new destinations.SqsDestination(deadLetters),
      retryAttempts: 2,
      maxEventAge: Duration.hours(6),
    });
    new events.Rule(this, 'ExecutionEnded', {
      description: 'keyrot: archive every rotation execution when it ends',
      eventPattern: {
        source: ['aws.states'],
        detailType: ['Step Functions Execution Status Change'],
        detail: {
          stateMachineArn: [this.stateMachine.stateMachineArn],
          status: ['SUCCEEDED', 'FAILED', 'TIMED_OUT', 'ABORTED'],
        },
      },
      targets: [
        new targets.LambdaFunction(archiver, {
          deadLetterQueue: deadLetters,
          retryAttempts: 8,
          maxEventAge: Duration.hours(24),
        }),
      ],
    });
    new cloudwatch.Alarm(this, 'ArchiveFailedAlarm', {
      metric: deadLetters.metricApproximateNumberOfMessagesVisible({ period: Duration.minutes(5) }),
      threshold: 1,
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      alarmDescription:
        'An execution could not be archived (undeliverable event or failed archiver): its history must be archived before Step Functions drops it (90 days).',
    }).addAlarmAction(new actions.SnsAction(alarms));
    new CfnOutput(this, 'ArchiveBucketName', { value: bucket.bucketName });

    const acknowledge = (construct: Construct, id: string, reason: string) =>
      Validations.of(construct).acknowledge({ id, reason });
    const bucketId = this.resolve(this.getLogicalId(bucket.node.defaultChild as s3.CfnBucket)) as string;
    acknowledge(
      archiver,
      `AwsSolutions-IAM5[Resource::<${bucketId}.Arn>/*]`,
      'Record keys are made per execution at run time; every write is If-None-Match and locked in COMPLIANCE mode, so nothing archived can be replaced.',
    );
    acknowledge(
      archiver,
      `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:execution:${this.stateMachineName}:*]`,
      'The archiver reads the history of any execution of the rotation state machine, and of no other.',
    );
    acknowledge(
      accessLogs,
      'AwsSolutions-S1',
      'This is the access-log bucket of the evidence archive; logging it to itself would loop.',
    );
    acknowledge(deadLetters, 'AwsSolutions-SQS3', 'This queue is itself the dead-letter queue of the archive rule.');
    return archiver;
  }

  /** Every cdk-nag finding that stays, with the reason it stays. */
  private acknowledgeFindings(
    functions: Record<FunctionName, nodejs.NodejsFunction>,
    scoped: { userResource: string; secretResource: string },
  ): void {
    const acknowledge = (construct: Construct, id: string, reason: string) =>
      Validations.of(construct).acknowledge({ id, reason });
    for (const fn of Object.values(functions)) {
      acknowledge(
        fn,
        'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
        'The AWS managed basic execution role only allows writing to the function’s own log group.',
      );
      acknowledge(
        fn,
        'AwsSolutions-IAM5[Resource::*]',
        'X-Ray PutTraceSegments/PutTelemetryRecords take no resource; nor do SendTaskSuccess/Failure (the task token names the execution) or the account-wide credential report the scan reads.',
      );
      for (const action of ['kms:GenerateDataKey*', 'kms:ReEncrypt*']) {
        acknowledge(
          fn,
          `AwsSolutions-IAM5[Action::${action}]`,
          'Generated by Key.grantEncryptDecrypt on the one keyrot KMS key; the resource is that key alone.',
        );
      }
      acknowledge(
        fn,
        `AwsSolutions-IAM5[Resource::${scoped.userResource}]`,
        'The rotation role reaches only IAM users under the configured path (and tag, when set), never others.',
      );
      acknowledge(
        fn,
        `AwsSolutions-IAM5[Resource::${scoped.secretResource}]`,
        'One secret per rotated user is created at run time under the keyrot prefix; names are not known at deploy time.',
      );
    }
    const invokers: [sfn.StateMachine, FunctionName[]][] = [
      [this.stateMachine, [...HANDLER_NAMES]],
      [this.scanMachine, [...SCAN_HANDLER_NAMES]],
    ];
    for (const [machine, names] of invokers) {
      for (const name of names) {
        const logicalId = this.resolve(this.getLogicalId(functions[name].node.defaultChild as lambda.CfnFunction));
        acknowledge(
          machine,
          `AwsSolutions-IAM5[Resource::<${logicalId as string}.Arn>:*]`,
          'Generated by LambdaInvoke: the state machine may invoke any version of its own handler function.',
        );
      }
      acknowledge(machine, 'AwsSolutions-IAM5[Resource::*]', 'X-Ray tracing actions take no resource.');
    }
    acknowledge(
      this.node.findChild('Approvers'),
      'AwsSolutions-COG2',
      'Approvers sign with user name and password at the moment of signing (21 CFR 11.200, two components); an MFA challenge step on the signing form is not built yet.',
    );
    acknowledge(
      this.node.findChild('Approvers'),
      'AwsSolutions-COG8',
      'The pool holds a handful of approvers who only sign approvals; the Plus tier threat protection is a cost decision left to the deployer.',
    );
    acknowledge(
      this.node.findChild('ApprovalLinkKey'),
      'AwsSolutions-SMG4',
      'Rotating the link HMAC key invalidates every outstanding approval link; rotate it by hand between approval windows.',
    );
  }
}
