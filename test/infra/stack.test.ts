import assert from 'node:assert/strict';
import { describe, it } from '@jest/globals';
import { App, Validations } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import { APPROVAL_INDEXES, BY_EXECUTION } from '../../handlers/shared/approval-indexes';
import { buildApp } from '../../infra/app';
import { synthesizeDefinition } from '../../local/definition';

type State = {
  Type: string;
  Resource?: string;
  Retry?: { ErrorEquals: string[] }[];
  Catch?: { ErrorEquals: string[]; Next: string }[];
  TimeoutSeconds?: number;
};

// Bundling is skipped: these tests look at the template, `npm run synth` bundles for real.
const context = { 'aws:cdk:bundling-stacks': [], 'keyrot:userPath': '/svc/', 'keyrot:userTag': 'keyrot:managed' };
const { app, stack } = buildApp(new App({ context }));
const template = Template.fromStack(stack);
const { definition } = await synthesizeDefinition();
const states = definition.States as Record<string, State>;
const tasks = Object.entries(states).filter(([, state]) => state.Type === 'Task');

describe('the synthesized stack', () => {
  it('is a Standard state machine, traced, logging everything but execution data', () => {
    template.hasResourceProperties('AWS::StepFunctions::StateMachine', {
      StateMachineType: 'STANDARD',
      TracingConfiguration: { Enabled: true },
      LoggingConfiguration: Match.objectLike({ IncludeExecutionData: false, Level: 'ALL' }),
    });
  });

  it('runs every handler on a current Node runtime, arm64, traced, with its own log group', () => {
    const functions = template.findResources('AWS::Lambda::Function');
    assert.equal(
      Object.keys(functions).length,
      18,
      'thirteen rotation handlers, three scan handlers, the approval API, the archiver',
    );
    for (const fn of Object.values(functions)) {
      assert.equal(fn.Properties.Runtime, 'nodejs24.x');
      assert.deepEqual(fn.Properties.Architectures, ['arm64']);
      assert.deepEqual(fn.Properties.TracingConfig, { Mode: 'Active' });
      assert.ok(fn.Properties.LoggingConfig?.LogGroup, 'a log group with retention and KMS');
    }
  });

  it('lets the handlers touch only users under the configured path that carry the tag', () => {
    const policies = template.findResources('AWS::IAM::Policy');
    const iamStatements = Object.values(policies)
      .flatMap(
        (policy) =>
          policy.Properties.PolicyDocument.Statement as {
            Action: string | string[];
            Resource: unknown;
            Condition?: unknown;
          }[],
      )
      .filter((statement) => [statement.Action].flat().some((action) => action.startsWith('iam:')));
    // The credential report is account-wide and takes no resource; it reveals ages, not keys.
    const report = ['iam:GenerateCredentialReport', 'iam:GetCredentialReport'];
    const [accountWide, ...others] = iamStatements.filter((statement) => JSON.stringify(statement.Resource) === '"*"');
    assert.deepEqual(accountWide?.Action, report);
    assert.deepEqual(others, []);
    iamStatements.splice(iamStatements.indexOf(accountWide!), 1);
    assert.ok(iamStatements.length >= 7);
    for (const statement of iamStatements) {
      assert.match(JSON.stringify(statement.Resource), /:user\/svc\/\*/);
      assert.deepEqual(statement.Condition, { StringEquals: { 'iam:ResourceTag/keyrot:managed': 'true' } });
    }
  });

  it('gives each handler only the IAM actions its step needs', () => {
    const actionsOf = (prefix: string) =>
      Object.entries(template.findResources('AWS::IAM::Policy'))
        .filter(([id]) => id.startsWith(prefix))
        .flatMap(([, policy]) =>
          policy.Properties.PolicyDocument.Statement.flatMap((s: { Action: string | string[] }) => [s.Action].flat()),
        )
        .filter((action: string) => action.startsWith('iam:'));
    // Verify looks whether a refused new key still exists: the call ledger showed this grant missing.
    assert.deepEqual(actionsOf('verifykey'), ['iam:ListAccessKeys']);
    // Detect reads the user's tags from GetUser's answer (no ListUserTags).
    assert.deepEqual(actionsOf('detectkeys').sort(), ['iam:GetAccessKeyLastUsed', 'iam:GetUser', 'iam:ListAccessKeys']);
    assert.ok(!actionsOf('deactivatekey').includes('iam:DeleteAccessKey'));
  });

  it('encrypts the topic and the approvals table with the keyrot KMS key', () => {
    template.hasResourceProperties('AWS::SNS::Topic', { KmsMasterKeyId: Match.anyValue() });
    template.hasResourceProperties('AWS::DynamoDB::Table', {
      SSESpecification: Match.objectLike({ SSEEnabled: true, SSEType: 'KMS' }),
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
      TimeToLiveSpecification: { AttributeName: 'ttl', Enabled: true },
    });
  });

  it('indexes the approvals table as the core queries it, and grants no Scan and no Query on the table itself', () => {
    const [table] = Object.values(template.findResources('AWS::DynamoDB::Table'));
    assert.deepEqual(
      (table?.Properties.GlobalSecondaryIndexes as { IndexName: string }[]).map((index) => index),
      APPROVAL_INDEXES.map((index) => ({
        IndexName: index.name,
        KeySchema: [
          { AttributeName: index.partitionKey, KeyType: 'HASH' },
          ...(index.sortKey ? [{ AttributeName: index.sortKey, KeyType: 'RANGE' }] : []),
        ],
        Projection: { ProjectionType: 'INCLUDE', NonKeyAttributes: [...index.projected] },
      })),
    );
    const statements = Object.values(template.findResources('AWS::IAM::Policy')).flatMap(
      (policy) => policy.Properties.PolicyDocument.Statement as { Action: string | string[]; Resource: unknown }[],
    );
    const dynamodb = statements.filter((statement) =>
      [statement.Action].flat().some((action) => action.startsWith('dynamodb:')),
    );
    const actions = dynamodb.flatMap((statement) => [statement.Action].flat());
    assert.deepEqual(
      actions.filter((action) => /^dynamodb:(Scan|\*)$/.test(action)),
      [],
      'no function may scan the approvals table',
    );
    for (const statement of dynamodb) {
      const resources = JSON.stringify(statement.Resource);
      if ([statement.Action].flat().includes('dynamodb:Query'))
        assert.deepEqual([statement.Action].flat(), ['dynamodb:Query'], 'Query stands in its own statement');
      else assert.doesNotMatch(resources, /\/index\//, 'item actions on the table, not on its indexes');
    }
    const queries = dynamodb.filter((statement) => [statement.Action].flat().includes('dynamodb:Query'));
    assert.equal(queries.length, 2, 'request-approval and the archiver');
    for (const statement of queries) {
      assert.match(JSON.stringify(statement.Resource), new RegExp(`/index/${BY_EXECUTION.name}"\\]\\]}$`));
    }
  });

  it('serves the approval pages from a function URL, signing against a Cognito pool with a strict password policy', () => {
    template.hasResourceProperties('AWS::Lambda::Url', { AuthType: 'NONE' });
    template.hasResourceProperties('AWS::Cognito::UserPool', {
      Policies: { PasswordPolicy: Match.objectLike({ MinimumLength: 12, RequireSymbols: true }) },
      AdminCreateUserConfig: { AllowAdminCreateUserOnly: true },
    });
    template.hasResourceProperties('AWS::Cognito::UserPoolClient', {
      ExplicitAuthFlows: Match.arrayWith(['ALLOW_USER_PASSWORD_AUTH']),
      PreventUserExistenceErrors: 'ENABLED',
    });
    const statements = JSON.stringify(template.findResources('AWS::IAM::Policy'));
    assert.match(statements, /states:SendTaskSuccess/);
  });

  it('keeps the evidence archive locked in COMPLIANCE mode for seven years, versioned, KMS-encrypted, private', () => {
    template.hasResourceProperties('AWS::S3::Bucket', {
      ObjectLockEnabled: true,
      ObjectLockConfiguration: {
        ObjectLockEnabled: 'Enabled',
        Rule: { DefaultRetention: { Mode: 'COMPLIANCE', Days: 2557 } },
      },
      VersioningConfiguration: { Status: 'Enabled' },
      BucketEncryption: {
        ServerSideEncryptionConfiguration: [
          Match.objectLike({ ServerSideEncryptionByDefault: Match.objectLike({ SSEAlgorithm: 'aws:kms' }) }),
        ],
      },
      PublicAccessBlockConfiguration: {
        BlockPublicAcls: true,
        BlockPublicPolicy: true,
        IgnorePublicAcls: true,
        RestrictPublicBuckets: true,
      },
    });
  });

  it('archives every execution when it ends, through EventBridge, with a dead-letter queue that alarms', () => {
    template.hasResourceProperties('AWS::Events::Rule', {
      EventPattern: {
        source: ['aws.states'],
        'detail-type': ['Step Functions Execution Status Change'],
        detail: Match.objectLike({ status: ['SUCCEEDED', 'FAILED', 'TIMED_OUT', 'ABORTED'] }),
      },
      Targets: [
        Match.objectLike({
          DeadLetterConfig: Match.anyValue(),
          RetryPolicy: Match.objectLike({ MaximumRetryAttempts: 8 }),
        }),
      ],
    });
    const archiver = Object.values(template.findResources('AWS::Lambda::Function')).find(
      (fn) => fn.Properties.Environment?.Variables?.KEYROT_ARCHIVE_BUCKET,
    );
    assert.equal(archiver?.Properties.Environment.Variables.KEYROT_ARCHIVE_RETENTION_DAYS, '2557');
    const policies = JSON.stringify(template.findResources('AWS::IAM::Policy'));
    assert.match(policies, /states:GetExecutionHistory/);
    assert.doesNotMatch(policies, /s3:DeleteObject/, 'nothing in the stack may delete archived objects');
  });

  it('keeps the scan’s due lists in their own bucket: the stack key, private, access-logged, expiring; scan roles reach only scans/*', () => {
    const buckets = template.findResources('AWS::S3::Bucket', {
      Properties: { LifecycleConfiguration: Match.anyValue() },
    });
    const [id, bucket] = Object.entries(buckets).find(([, found]) => !found.Properties.ObjectLockEnabled) ?? [];
    assert.ok(id && bucket, 'a scan bucket with a lifecycle');
    assert.deepEqual(bucket.Properties.LifecycleConfiguration.Rules, [{ ExpirationInDays: 14, Status: 'Enabled' }]);
    const [key] = Object.keys(template.findResources('AWS::KMS::Key', { Properties: { KeyUsage: Match.absent() } }));
    assert.deepEqual(bucket.Properties.BucketEncryption.ServerSideEncryptionConfiguration, [
      {
        BucketKeyEnabled: true,
        ServerSideEncryptionByDefault: { KMSMasterKeyID: { 'Fn::GetAtt': [key, 'Arn'] }, SSEAlgorithm: 'aws:kms' },
      },
    ]);
    assert.ok(bucket.Properties.LoggingConfiguration?.DestinationBucketName, 'server access logs');
    const scanFunctions = Object.entries(template.findResources('AWS::Lambda::Function')).filter(
      ([, fn]) => fn.Properties.Environment?.Variables?.KEYROT_SCAN_BUCKET,
    );
    assert.equal(scanFunctions.length, 3, 'scan-fleet, start-rotation, send-summary know the bucket');
    const s3Statements = Object.values(template.findResources('AWS::IAM::Policy'))
      .flatMap(
        (policy) => policy.Properties.PolicyDocument.Statement as { Action: string | string[]; Resource: unknown }[],
      )
      .filter((statement) => JSON.stringify(statement.Resource).includes(id));
    assert.deepEqual(
      s3Statements.map((statement) => [statement.Action, JSON.stringify(statement.Resource)]),
      [
        ['s3:PutObject', JSON.stringify({ 'Fn::Join': ['', [{ 'Fn::GetAtt': [id, 'Arn'] }, '/scans/*']] })],
        [
          ['s3:GetObject', 's3:PutObject'],
          JSON.stringify({ 'Fn::Join': ['', [{ 'Fn::GetAtt': [id, 'Arn'] }, '/scans/*']] }),
        ],
      ],
    );
  });

  it('maps over the due lists one at a time, each list starting at most the scan’s concurrency', async () => {
    const scan = (await synthesizeDefinition({}, 'Scan')).definition.States as Record<
      string,
      { Type: string; ItemsPath?: string; MaxConcurrency?: number; ItemSelector?: Record<string, unknown> }
    >;
    const map = scan['Start Rotations'];

    assert.equal(map?.Type, 'Map');
    assert.equal(map.ItemsPath, '$.scan.lists');
    assert.equal(map.MaxConcurrency, 1);
    assert.equal(map.ItemSelector?.startsAtOnce, 10);
    assert.doesNotMatch(JSON.stringify(scan), /DISTRIBUTED|ItemReader/, 'an inline Map, which the local engine runs');
  });

  it('alarms when a rollback fails', () => {
    // Rollback failed, rollback errors, archive dead letters, and failed/timed-out/aborted executions of both machines.
    template.resourceCountIs('AWS::CloudWatch::Alarm', 9);
    template.hasResourceProperties('AWS::Logs::MetricFilter', { FilterPattern: '{ $.outcome = "ROLLBACK_FAILED" }' });
  });

  it('passes the cdk-nag AwsSolutions checks, and every acknowledgement gives a reason', () => {
    const report = new AwsSolutionsChecks().validateScope(app);
    assert.deepEqual(
      report.violations.map((violation) => `${violation.ruleName} ${violation.violatingResources[0]?.constructPath}`),
      [],
    );
    const acknowledgements = app.node
      .findAll()
      .flatMap((construct) => construct.node.metadata)
      .filter((entry) => entry.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY)
      .flatMap((entry) => Object.values(entry.data as Record<string, string>));
    assert.ok(acknowledgements.length > 0);
    for (const reason of acknowledgements)
      assert.ok(reason.length > 30, `acknowledgement without a real reason: ${reason}`);
  });
});

describe('the state machine definition', () => {
  it('has a retry policy on every task', () => {
    for (const [name, state] of tasks) assert.ok(state.Retry?.length, `${name} has no Retry`);
  });

  it('puts a timeout on every callback task', () => {
    const callbacks = tasks.filter(([, state]) => state.Resource?.endsWith('.waitForTaskToken'));
    assert.deepEqual(callbacks.map(([name]) => name).sort(), [
      'Approve Deletion',
      'Approve Rotation',
      'Wait For Consumer',
    ]);
    // The consumer's proof is checked before it resumes the task; Verify New Key checks the key again.
    assert.equal((states['Wait For Consumer'] as State & { Next?: string }).Next, 'Verify New Key');
    for (const [name] of callbacks.filter(([name]) => name !== 'Wait For Consumer')) {
      const check = states[name] as State & { Next?: string };
      assert.match(
        check.Next ?? '',
        /^Check (Rotation|Deletion) Approval$/,
        `${name} is followed by a check that fails closed`,
      );
    }
    for (const [, state] of callbacks) assert.equal(state.TimeoutSeconds, 86_400);
  });

  it('sends every failure after the key exists to the rollback', () => {
    const afterCreate = [
      'Create Access Key',
      'Distribute Key',
      'Check New Key Used',
      'Wait For Consumer',
      'Verify New Key',
      'Approve Deletion',
      'Check Deletion Approval',
      'Deactivate Old Key',
      'Delete Old Key',
      'Confirm Old Key Refused',
    ];
    for (const name of afterCreate) {
      assert.deepEqual(
        states[name]?.Catch?.at(-1),
        { ErrorEquals: ['States.ALL'], ResultPath: '$.failure', Next: 'Roll Back' },
        name,
      );
    }
    assert.equal(states['Roll Back']?.Catch?.[0]?.Next, 'Record Rollback Error');
  });

  it('ends in the named outcomes only', () => {
    const terminal = Object.entries(definition.States)
      .filter(([, state]) => state.Type === 'Succeed' || state.Type === 'Fail')
      .map(([name, state]) => `${name}:${(state as { Error?: string }).Error ?? state.Type}`)
      .sort();
    assert.deepEqual(terminal, [
      'Invalid Request:Fail',
      'Rejected:REJECTED',
      'Rollback Failed:ROLLBACK_FAILED',
      'Rolled Back:ROLLED_BACK',
      'Rotated:Succeed',
      'Skipped:Succeed',
    ]);
  });

  it('retries verification and old-key refusal for IAM eventual consistency', () => {
    assert.ok(states['Verify New Key']?.Retry?.some((retry) => retry.ErrorEquals.includes('NewKeyNotValid')));
    assert.ok(
      states['Confirm Old Key Refused']?.Retry?.some((retry) => retry.ErrorEquals.includes('OldKeyStillAccepted')),
    );
  });
});

describe('many accounts', () => {
  const memberContext = {
    'aws:cdk:bundling-stacks': [],
    'keyrot:accounts': '444455556666,777788889999',
    'keyrot:externalId': 'keyrot-ext-7f3a',
    'keyrot:keyrotAccount': '111122223333',
    'keyrot:userPath': '/svc/',
  };
  const built = buildApp(new App({ context: memberContext }));
  const central = Template.fromStack(built.stack);
  const member = Template.fromStack(built.member!);

  it('provides the member-account role as its own stack, trusting keyrot only with the external id', () => {
    member.hasResourceProperties('AWS::IAM::Role', {
      RoleName: 'KeyrotMember',
      AssumeRolePolicyDocument: {
        Statement: [
          Match.objectLike({
            Action: 'sts:AssumeRole',
            Condition: { StringEquals: { 'sts:ExternalId': 'keyrot-ext-7f3a' } },
            Principal: { AWS: { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':iam::111122223333:root']] } },
          }),
        ],
      },
    });
    const policy = JSON.stringify(member.findResources('AWS::IAM::Policy'));
    assert.match(policy, /user\/svc\/\*/);
    assert.match(policy, /iam:GetCredentialReport/);
    assert.doesNotMatch(policy, /iam:\*|"\*"\]?,"Effect":"Allow","Resource":"\*"/);
  });

  it('lets only the handlers that touch keys assume the member roles, and tells them the accounts', () => {
    const policies = Object.values(central.findResources('AWS::IAM::Policy')).map((p) => JSON.stringify(p));
    const assuming = policies.filter((p) => p.includes('sts:AssumeRole'));
    assert.ok(assuming.length >= 8, `${assuming.length} roles may assume`);
    for (const policy of assuming) {
      assert.match(policy, /iam::444455556666:role\/KeyrotMember/);
      assert.doesNotMatch(policy, /iam::\*:role/);
    }
    const detect = Object.values(central.findResources('AWS::Lambda::Function')).find((fn) =>
      JSON.stringify(fn).includes('KEYROT_ACCOUNTS'),
    );
    assert.equal(detect?.Properties.Environment.Variables.KEYROT_ACCOUNTS, '444455556666,777788889999');
  });

  it('passes cdk-nag with member accounts listed and with the whole organization', () => {
    const organization = buildApp(new App({ context: { ...memberContext, 'keyrot:accounts': 'organizations' } }));
    for (const scope of [built.app, organization.app]) {
      const report = new AwsSolutionsChecks().validateScope(scope);
      assert.deepEqual(
        report.violations.map((violation) => `${violation.ruleName} ${violation.violatingResources[0]?.constructPath}`),
        [],
      );
    }
    assert.match(JSON.stringify(Template.fromStack(organization.stack).toJSON()), /organizations:ListAccounts/);
  });

  it('refuses a member stack without an external id', () => {
    assert.throws(
      () => buildApp(new App({ context: { ...memberContext, 'keyrot:externalId': '' } })),
      /keyrot:externalId is required/,
    );
  });
});
