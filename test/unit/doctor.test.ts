import assert from 'node:assert/strict';
import { describe, it } from '@jest/globals';
import { CloudFormationClient, DescribeStacksCommand, ListStackResourcesCommand } from '@aws-sdk/client-cloudformation';
import { CognitoIdentityProviderClient } from '@aws-sdk/client-cognito-identity-provider';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  IAMClient,
  SimulatePrincipalPolicyCommand,
  type SimulatePrincipalPolicyCommandInput,
} from '@aws-sdk/client-iam';
import { GetFunctionConfigurationCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { S3Client } from '@aws-sdk/client-s3';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SFNClient } from '@aws-sdk/client-sfn';
import { SNSClient } from '@aws-sdk/client-sns';
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { mockClient } from 'aws-sdk-client-mock';
import {
  isNotImplemented,
  parseHandlerCalls,
  runDoctor,
  STACK_OUTPUTS,
  type DoctorClients,
  type HandlerCalls,
} from '../../handlers/domain/doctor';

const ACCOUNT = '123456789012';
const role = (handler: string) => `arn:aws:iam::${ACCOUNT}:role/Keyrot-${handler}-ServiceRole`;

/** Clients for a stack whose outputs all exist; only IAM's simulation differs between tests. */
function deployment(simulate: (input: SimulatePrincipalPolicyCommandInput) => unknown) {
  const clients = {
    cloudformation: new CloudFormationClient({ region: 'eu-west-1' }),
    sfn: new SFNClient({ region: 'eu-west-1' }),
    dynamodb: new DynamoDBClient({ region: 'eu-west-1' }),
    sns: new SNSClient({ region: 'eu-west-1' }),
    cognito: new CognitoIdentityProviderClient({ region: 'eu-west-1' }),
    lambda: new LambdaClient({ region: 'eu-west-1' }),
    secrets: new SecretsManagerClient({ region: 'eu-west-1' }),
    s3: new S3Client({ region: 'eu-west-1' }),
    iam: new IAMClient({ region: 'eu-west-1' }),
    sts: new STSClient({ region: 'eu-west-1' }),
  } satisfies DoctorClients;
  const outputs = STACK_OUTPUTS.map((name) => ({
    OutputKey: name,
    OutputValue:
      name === 'HandlerRoles'
        ? ['create-key', 'approval-api', 'archive-execution'].map((h) => `${h}=${role(h)}`).join(',')
        : name === 'StateMachineArn'
          ? `arn:aws:states:eu-west-1:${ACCOUNT}:stateMachine:Keyrot-rotation`
          : `value-of-${name}`,
  }));
  mockClient(clients.cloudformation)
    .on(DescribeStacksCommand)
    .resolves({
      Stacks: [{ StackName: 'Keyrot', StackStatus: 'CREATE_COMPLETE', CreationTime: new Date(), Outputs: outputs }],
    })
    .on(ListStackResourcesCommand)
    .resolves({ StackResourceSummaries: [] });
  mockClient(clients.lambda).on(GetFunctionConfigurationCommand).resolves({});
  mockClient(clients.sts)
    .on(GetCallerIdentityCommand)
    .resolves({ Account: ACCOUNT, Arn: `arn:aws:iam::${ACCOUNT}:user/ops` });
  const iam = mockClient(clients.iam);
  iam.on(SimulatePrincipalPolicyCommand).callsFake(simulate);
  return { clients, iam };
}

const settings = (handlerCalls: HandlerCalls) => ({
  stackName: 'Keyrot',
  region: 'eu-west-1',
  userPath: '/service-accounts/',
  secretPrefix: 'keyrot/',
  userTag: 'keyrot:managed',
  handlerCalls,
});

const permissionRows = (results: Awaited<ReturnType<typeof runDoctor>>) =>
  results.filter((result) => result.check.startsWith('permissions'));

describe('keyrot doctor: role permissions', () => {
  it('fails a handler whose role is denied a call, naming the handler, the action and the resource', async () => {
    // Prepare
    const { clients, iam } = deployment((input) => ({
      EvaluationResults: (input.ActionNames ?? []).map((action) => ({
        EvalActionName: action,
        EvalResourceName: input.ResourceArns?.[0],
        EvalDecision: action === 'iam:CreateAccessKey' ? 'implicitDeny' : 'allowed',
      })),
    }));
    const calls = parseHandlerCalls(
      JSON.stringify({
        'create-key': [
          { action: 'iam:ListAccessKeys', resource: 'user' },
          { action: 'iam:CreateAccessKey', resource: 'user' },
          { action: 'secretsmanager:CreateSecret', resource: 'user-secret' },
        ],
        'archive-execution': [{ action: 'states:GetExecutionHistory', resource: 'rotation-execution' }],
      }),
    );

    // Act
    const rows = permissionRows(await runDoctor(clients, settings(calls)));

    // Assess
    assert.deepEqual(
      rows.map((row) => [row.check, row.status]),
      [
        ['permissions: create-key', 'FAIL'],
        ['permissions: archive-execution', 'OK'],
      ],
    );
    const user = `arn:aws:iam::${ACCOUNT}:user/service-accounts/keyrot-doctor-probe`;
    assert.equal(rows[0]?.detail, `create-key is denied iam:CreateAccessKey on ${user} (implicitDeny)`);
    assert.match(rows[0]?.fix ?? '', /create-key role in infra\/keyrot-stack\.ts, then npx cdk deploy/);
    const asked = iam.commandCalls(SimulatePrincipalPolicyCommand).map((call) => call.args[0].input);
    assert.deepEqual(
      asked.map((input) => [input.PolicySourceArn, input.ResourceArns, input.ContextEntries?.[0]?.ContextKeyName]),
      [
        [role('create-key'), [user], 'iam:ResourceTag/keyrot:managed'],
        [
          role('create-key'),
          [`arn:aws:secretsmanager:eu-west-1:${ACCOUNT}:secret:keyrot/keyrot-doctor-probe-AbCdEf`],
          undefined,
        ],
        [
          role('archive-execution'),
          [`arn:aws:states:eu-west-1:${ACCOUNT}:execution:Keyrot-rotation:keyrot-doctor-probe`],
          undefined,
        ],
      ],
    );
  });

  it('skips calls on resource kinds it cannot map, and handlers without a role fail', async () => {
    // Prepare
    const { clients } = deployment((input) => ({
      EvaluationResults: (input.ActionNames ?? []).map((action) => ({
        EvalActionName: action,
        EvalDecision: 'allowed',
      })),
    }));
    const calls: HandlerCalls = {
      'create-key': [
        { action: 'iam:ListAccessKeys', resource: 'user' },
        { action: 'sts:AssumeRole', resource: 'member-role' },
        { action: 'thing:DoIt', resource: 'thing-not-known' },
        { action: 'sts:GetCallerIdentity', resource: 'none' },
      ],
      'new-handler': [{ action: 'sns:Publish', resource: 'notification-topic' }],
    };

    // Act
    const rows = permissionRows(await runDoctor(clients, settings(calls)));

    // Assess
    assert.deepEqual(
      rows.map((row) => [row.check, row.status]),
      [
        ['permissions: create-key', 'OK'],
        ['permissions: create-key (not simulated)', 'SKIP'],
        ['permissions: new-handler', 'FAIL'],
      ],
    );
    assert.match(rows[1]?.detail ?? '', /sts:AssumeRole on member-role \(no member account configured/);
    assert.match(rows[1]?.detail ?? '', /thing:DoIt on thing-not-known \(unknown resource kind\)/);
    assert.equal(rows[2]?.detail, 'HandlerRoles names no role for new-handler');
    assert.equal(rows[1]?.detail.includes('GetCallerIdentity'), false);
  });

  it('reports one SKIP row when the endpoint does not implement SimulatePrincipalPolicy', async () => {
    // Prepare: what moto answers (HTTP 500, an HTML page the SDK cannot parse).
    const unparsable = Object.assign(new Error('Deserialization error: to see the raw response...'), {
      $metadata: { httpStatusCode: 500 },
    });
    const { clients } = deployment(() => {
      throw unparsable;
    });
    const calls: HandlerCalls = {
      'create-key': [{ action: 'iam:ListAccessKeys', resource: 'user' }],
      'approval-api': [{ action: 'dynamodb:GetItem', resource: 'approvals-table' }],
    };

    // Act
    const rows = permissionRows(await runDoctor(clients, settings(calls)));

    // Assess
    assert.deepEqual(
      rows.map((row) => [row.check, row.status]),
      [['permissions', 'SKIP']],
    );
    assert.match(rows[0]?.detail ?? '', /does not implement iam:SimulatePrincipalPolicy \(HTTP 500/);
  });

  it('tells an unimplemented call from a real service failure', () => {
    const error = (name: string, status: number) =>
      Object.assign(new Error('x'), { name, $metadata: { httpStatusCode: status } });
    assert.equal(isNotImplemented(error('NotImplemented', 501)), true);
    assert.equal(isNotImplemented(error('InvalidAction', 400)), true);
    assert.equal(isNotImplemented(error('Error', 500)), true);
    assert.equal(isNotImplemented(error('ServiceFailure', 500)), false);
    assert.equal(isNotImplemented(error('AccessDenied', 403)), false);
  });
});
