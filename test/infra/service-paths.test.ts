import assert from 'node:assert/strict';
import { beforeAll, describe, it } from '@jest/globals';
import {
  ACCOUNT,
  REGION,
  VARIANTS,
  evaluate,
  resolver,
  resourcePolicyOf,
  roleArn,
  rolePolicies,
  synthesize,
  type Synthesized,
  type Template,
} from '../support/permissions';

/**
 * Every place where one AWS service acts for another, evaluated from the synthesized template
 * with the same evaluator as the call ledger: the service principal against the resource
 * policy (and the KMS key policy behind it), or the role the service assumes against its trust
 * and identity policies. moto checks none of these.
 */

let synth: Synthesized;
let template: Template;
let resolve: (value: unknown) => unknown;
const OWN = `${REGION}:${ACCOUNT}`;

function idsOf(type: string, match: (properties: Record<string, unknown>) => boolean = () => true): string[] {
  return Object.entries(template.Resources)
    .filter(([, resource]) => resource.Type === type && match(resource.Properties ?? {}))
    .map(([id]) => id);
}
function one(type: string, match?: (properties: Record<string, unknown>) => boolean): string {
  const ids = idsOf(type, match);
  assert.equal(ids.length, 1, `expected one ${type}, found ${ids.join(', ')}`);
  return ids[0] as string;
}
const arnOf = (id: string) => String(resolve({ 'Fn::GetAtt': [id, 'Arn'] }));
// The stack's encryption key (the other one, SigningKey, only signs approvals).
const keyId = () => one('AWS::KMS::Key', (properties) => properties.KeySpec === undefined);
const keyArn = () => arnOf(keyId());

/** A service principal calling `action` on a resource governed by `policyOf`'s resource policy. */
async function serviceMay(
  service: string,
  action: string,
  resource: string,
  policyOf: string,
  context: Record<string, string> = {},
): Promise<string> {
  const verdict = await evaluate({
    principal: service,
    action,
    resource,
    resourceAccount: ACCOUNT,
    // Only the keys a service documents sending: a condition on any other never matches.
    context,
    identityPolicies: [],
    resourcePolicy: resourcePolicyOf(template, policyOf),
  });
  return verdict.result;
}

/** A role a service assumes: its trust lets the service in, and its policies allow `action` on `resource`. */
async function roleMay(
  roleId: string,
  service: { principal: string; sourceArn: string },
  action: string,
  resource: string,
): Promise<[string, string]> {
  const trust = await evaluate({
    principal: service.principal,
    action: 'sts:AssumeRole',
    resource: roleArn(ACCOUNT, roleId),
    resourceAccount: ACCOUNT,
    context: { 'aws:SourceAccount': ACCOUNT, 'aws:SourceArn': service.sourceArn },
    identityPolicies: [],
    resourcePolicy: resourcePolicyOf(template, roleId),
  });
  const call = await evaluate({
    principal: roleArn(ACCOUNT, roleId),
    action,
    resource,
    resourceAccount: ACCOUNT,
    identityPolicies: rolePolicies(template, roleId),
  });
  return [trust.result, call.result];
}

const roleOf = (resourceId: string, property = 'RoleArn') =>
  (template.Resources[resourceId]?.Properties?.[property] as { 'Fn::GetAtt': [string, string] })['Fn::GetAtt'][0];

beforeAll(() => {
  synth = synthesize(VARIANTS[0]!);
  template = synth.template;
  resolve = resolver(template);
});

describe('service paths of the synthesized stack', () => {
  it('lets the execution-ended rule invoke the archiver, and only that rule', async () => {
    const rule = one('AWS::Events::Rule');
    const archiver = synth.functions['archive-execution']!.functionId;

    assert.equal(
      await serviceMay('events.amazonaws.com', 'lambda:InvokeFunction', arnOf(archiver), archiver, {
        'aws:SourceArn': arnOf(rule),
      }),
      'Allowed',
    );
    assert.notEqual(
      await serviceMay('events.amazonaws.com', 'lambda:InvokeFunction', arnOf(archiver), archiver, {
        'aws:SourceArn': `arn:aws:events:${OWN}:rule/someone-elses`,
      }),
      'Allowed',
    );
  });

  it('lets the rule put undeliverable events on its dead-letter queue, with no key policy in the way', async () => {
    const rule = one('AWS::Events::Rule');
    const queue = one('AWS::SQS::Queue');
    const encryption = template.Resources[queue]?.Properties;

    assert.equal(
      await serviceMay('events.amazonaws.com', 'sqs:SendMessage', arnOf(queue), queue, {
        'aws:SourceArn': arnOf(rule),
      }),
      'Allowed',
    );
    assert.equal(encryption?.SqsManagedSseEnabled, true, 'SQS-managed encryption: EventBridge needs no KMS grant');
    assert.equal(encryption?.KmsMasterKeyId, undefined);
  });

  it('sends an archiver invocation that failed after its retries to the same queue, through its own role', async () => {
    const queue = one('AWS::SQS::Queue');
    const config = one('AWS::Lambda::EventInvokeConfig');
    const destination = (template.Resources[config]?.Properties as { DestinationConfig: { OnFailure: unknown } })
      .DestinationConfig.OnFailure as { Destination: unknown };
    const role = synth.functions['archive-execution']!.roleId;

    assert.equal(resolve(destination.Destination), arnOf(queue));
    const verdict = await evaluate({
      principal: roleArn(ACCOUNT, role),
      action: 'sqs:SendMessage',
      resource: arnOf(queue),
      resourceAccount: ACCOUNT,
      identityPolicies: rolePolicies(template, role),
      resourcePolicy: resourcePolicyOf(template, queue),
    });
    assert.equal(verdict.result, 'Allowed');
  });

  it('lets every alarm publish to the encrypted alarm topic, the topic policy and the key policy both', async () => {
    const alarmTopic = idsOf('AWS::SNS::Topic').find((id) => id.startsWith('Alarms')) as string;
    const alarms = idsOf('AWS::CloudWatch::Alarm');
    assert.ok(alarms.length >= 9, `alarms: ${alarms.join(', ')}`);
    for (const alarm of alarms) {
      const actions = resolve(template.Resources[alarm]?.Properties?.AlarmActions) as string[];
      assert.deepEqual(actions, [resolve({ Ref: alarmTopic })], `${alarm} notifies the alarm topic`);
      // CloudWatch names the alarm and its account to SNS (AWS's confused-deputy keys).
      const source = { 'aws:SourceArn': `arn:aws:cloudwatch:${OWN}:alarm:${alarm}`, 'aws:SourceAccount': ACCOUNT };
      assert.equal(
        await serviceMay(
          'cloudwatch.amazonaws.com',
          'sns:Publish',
          String(resolve({ Ref: alarmTopic })),
          alarmTopic,
          source,
        ),
        'Allowed',
        `${alarm} may publish`,
      );
    }
    for (const action of ['kms:GenerateDataKey', 'kms:Decrypt']) {
      assert.equal(await serviceMay('cloudwatch.amazonaws.com', action, keyArn(), keyId()), 'Allowed', action);
    }
    assert.notEqual(
      await serviceMay('cloudwatch.amazonaws.com', 'sns:Publish', String(resolve({ Ref: alarmTopic })), alarmTopic, {
        'aws:SourceAccount': '999999999999',
        'aws:SourceArn': `arn:aws:cloudwatch:${REGION}:999999999999:alarm:theirs`,
      }),
      'Allowed',
      "another account's alarms may not",
    );
  });

  it('alarms on failed, timed-out and aborted executions of both state machines, and on archive failures', () => {
    const machines = idsOf('AWS::StepFunctions::StateMachine');
    const watched = idsOf('AWS::CloudWatch::Alarm').map((id) => template.Resources[id]?.Properties ?? {});
    for (const machine of machines) {
      for (const metric of ['ExecutionsFailed', 'ExecutionsTimedOut', 'ExecutionsAborted']) {
        assert.ok(
          watched.some(
            (alarm) => alarm.MetricName === metric && JSON.stringify(alarm.Dimensions).includes(`"${machine}"`),
          ),
          `${machine} has an alarm on ${metric}`,
        );
      }
    }
    assert.ok(watched.some((alarm) => alarm.MetricName === 'ApproximateNumberOfMessagesVisible'));
  });

  it('lets the scheduler start the scan state machine through its role, and nothing else', async () => {
    const schedule = one('AWS::Scheduler::Schedule');
    const target = template.Resources[schedule]?.Properties?.Target as { RoleArn: unknown; Arn: unknown };
    const role = (target.RoleArn as { 'Fn::GetAtt': [string, string] })['Fn::GetAtt'][0];
    const scan = String(resolve(target.Arn));

    const scheduler = {
      principal: 'scheduler.amazonaws.com',
      sourceArn: `arn:aws:scheduler:${OWN}:schedule-group/default`,
    };
    assert.deepEqual(await roleMay(role, scheduler, 'states:StartExecution', scan), ['Allowed', 'Allowed']);
    const rotation = String(resolve({ Ref: synthMachine('rotation') }));
    assert.notEqual((await roleMay(role, scheduler, 'states:StartExecution', rotation))[1], 'Allowed');
  });

  it('lets each state machine invoke every Lambda its definition names, and nothing else of Step Functions', async () => {
    for (const machine of idsOf('AWS::StepFunctions::StateMachine')) {
      const role = roleOf(machine);
      const states = { principal: 'states.amazonaws.com', sourceArn: String(resolve({ Ref: machine })) };
      const definition = String(resolve(template.Resources[machine]?.Properties?.DefinitionString));
      const functions = [...new Set(definition.match(/arn:aws:lambda:[^"]+:function:[A-Za-z0-9-]+/g) ?? [])];
      assert.ok(functions.length >= 3, `${machine} names its functions`);
      for (const fn of functions) {
        assert.deepEqual(
          await roleMay(role, states, 'lambda:InvokeFunction', fn),
          ['Allowed', 'Allowed'],
          `${machine} → ${fn}`,
        );
      }
    }
    // The scan's Map is inline (its lists are small): no child executions to start, stop or redrive.
    const scan = synthMachine('scan');
    const scanArn = String(resolve({ Ref: scan }));
    const states = { principal: 'states.amazonaws.com', sourceArn: scanArn };
    const children = `${scanArn.replace(':stateMachine:', ':execution:')}`;
    for (const [action, resource] of [
      ['states:StartExecution', scanArn],
      ['states:StopExecution', `${children}:child-1`],
    ] as const) {
      assert.notEqual((await roleMay(roleOf(scan), states, action, resource))[1], 'Allowed', action);
    }
  });

  it('lets start-rotation start rotations and the approval pages answer the gates', async () => {
    const rotation = String(resolve({ Ref: synthMachine('rotation') }));
    const start = synth.functions['start-rotation']!.roleId;
    const approvals = synth.functions['approval-api']!.roleId;
    const as = async (role: string, action: string, resource: string) =>
      (
        await evaluate({
          principal: roleArn(ACCOUNT, role),
          action,
          resource,
          resourceAccount: ACCOUNT,
          identityPolicies: rolePolicies(template, role),
        })
      ).result;

    assert.equal(await as(start, 'states:StartExecution', rotation), 'Allowed');
    // SendTaskSuccess/Failure name no resource: a policy scoped to a state machine never matches.
    assert.equal(await as(approvals, 'states:SendTaskSuccess', '*'), 'Allowed');
    assert.equal(await as(approvals, 'states:SendTaskFailure', '*'), 'Allowed');
  });

  it('lets CloudWatch Logs use the key for the stack’s encrypted log groups', async () => {
    const logs = `logs.${REGION}.amazonaws.com`;
    for (const action of ['kms:Encrypt', 'kms:Decrypt', 'kms:GenerateDataKey', 'kms:DescribeKey']) {
      assert.equal(await serviceMay(logs, action, keyArn(), keyId()), 'Allowed', action);
    }
    const groups = idsOf('AWS::Logs::LogGroup');
    assert.ok(groups.length > 0);
    for (const id of groups) {
      assert.equal(resolve(template.Resources[id]?.Properties?.KmsKeyId), keyArn(), `${id} is encrypted with the key`);
    }
  });

  it('serves the approval pages to anyone through the function URL, and only through it', async () => {
    const fn = synth.functions['approval-api']!.functionId;
    const arn = arnOf(fn);
    const anonymous = async (action: string, context: Record<string, string>) =>
      (
        await evaluate({
          principal: 'arn:aws:iam::999999999999:user/anyone',
          action,
          resource: arn,
          resourceAccount: ACCOUNT,
          context,
          identityPolicies: [
            {
              name: 'caller',
              policy: { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: '*', Resource: '*' }] },
            },
          ],
          resourcePolicy: resourcePolicyOf(template, fn),
        })
      ).result;

    assert.equal(await anonymous('lambda:InvokeFunctionUrl', { 'lambda:FunctionUrlAuthType': 'NONE' }), 'Allowed');
    assert.equal(await anonymous('lambda:InvokeFunction', { 'lambda:InvokedViaFunctionUrl': 'true' }), 'Allowed');
    assert.notEqual(await anonymous('lambda:InvokeFunction', {}), 'Allowed');
  });
});

function synthMachine(which: 'rotation' | 'scan'): string {
  return one('AWS::StepFunctions::StateMachine', (p) => JSON.stringify(p.StateMachineName ?? '').includes(`-${which}`));
}
