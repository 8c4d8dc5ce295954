import {
  DescribeStacksCommand,
  ListStackResourcesCommand,
  type CloudFormationClient,
  type Stack,
} from '@aws-sdk/client-cloudformation';
import { ListUsersCommand, type CognitoIdentityProviderClient } from '@aws-sdk/client-cognito-identity-provider';
import { DescribeTableCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SimulatePrincipalPolicyCommand, type ContextEntry, type IAMClient } from '@aws-sdk/client-iam';
import { GetFunctionConfigurationCommand, type LambdaClient } from '@aws-sdk/client-lambda';
import { GetObjectLockConfigurationCommand, type S3Client } from '@aws-sdk/client-s3';
import { DescribeSecretCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { DescribeStateMachineCommand, type SFNClient } from '@aws-sdk/client-sfn';
import { GetTopicAttributesCommand, type SNSClient } from '@aws-sdk/client-sns';
import { GetCallerIdentityCommand, type STSClient } from '@aws-sdk/client-sts';
import { BY_EXECUTION } from '../shared/approval-indexes';

/** The outputs of the Keyrot stack (infra/keyrot-stack.ts) the doctor reads the deployment from. */
export const STACK_OUTPUTS = [
  'StateMachineArn',
  'ScanStateMachineArn',
  'NotificationTopicArn',
  'ApprovalsTableName',
  'ApprovalUrl',
  'ApproverPoolId',
  'ArchiveBucketName',
  'ScanListsBucketName',
  'ApprovalLinkKeyArn',
  'AlarmTopicArn',
  'HandlerRoles',
] as const;
export type StackOutput = (typeof STACK_OUTPUTS)[number];

export type CheckStatus = 'OK' | 'FAIL' | 'SKIP';

/** One row of the doctor's report; `fix` says, in one line, what repairs a FAIL. */
export interface CheckResult {
  check: string;
  status: CheckStatus;
  detail: string;
  fix?: string;
}

/** The SDK clients the checks call, each already pointed at the account and region to check. */
export interface DoctorClients {
  cloudformation: CloudFormationClient;
  sfn: SFNClient;
  dynamodb: DynamoDBClient;
  sns: SNSClient;
  cognito: CognitoIdentityProviderClient;
  lambda: LambdaClient;
  secrets: SecretsManagerClient;
  s3: S3Client;
  iam: IAMClient;
  sts: STSClient;
}

/** One AWS call a handler makes, on a symbolic kind of resource (infra/handler-calls.json). */
export interface HandlerCall {
  action: string;
  resource: string;
}
export type HandlerCalls = Record<string, HandlerCall[]>;

export interface DoctorSettings {
  stackName: string;
  region: string;
  /** IAM path of the managed users (`/` or `/service-accounts/`). */
  userPath: string;
  secretPrefix: string;
  /** When the deployment scopes the rotation to users tagged `<tag>=true`. */
  userTag?: string;
  /** What each handler calls, or (a string) why that is not known: the permissions check is then SKIP. */
  handlerCalls: HandlerCalls | string;
}

/** The made-up user the permission simulation asks about: a managed user like any other. */
export const PROBE_NAME = 'keyrot-doctor-probe';

/** The stack's default archive retention (DEFAULT_ARCHIVE_RETENTION_DAYS in infra/keyrot-stack.ts). */
const DEFAULT_RETENTION_DAYS = 2557;

const DEPLOY = 'npx cdk deploy';
const ADD_APPROVER = "keyrot approvers add <user> --name '<printed name>' --email <address>";

type Outputs = Partial<Record<StackOutput, string>>;
type Outcome = Omit<CheckResult, 'check'>;

/** What the checks learn as they go, for the checks after them. */
interface Found {
  outputs: Outputs;
  stackFound: boolean;
  /** Each pool user: enabled, and Cognito's status (FORCE_CHANGE_PASSWORD until a first sign-in). */
  poolUsers?: Map<string, { enabled: boolean; status: string | undefined }>;
  approvers?: string[];
  /** The approval function's environment: the deployed settings (KMS key, member accounts). */
  approvalEnvironment?: Record<string, string>;
}

const describe = (error: unknown) => {
  const failure = error as Error;
  return (
    `${failure.name && failure.name !== 'Error' ? `${failure.name}: ` : ''}${failure.message}`.split('\n')[0] ?? ''
  );
};

const isAccessDenied = (error: unknown) =>
  /AccessDenied|UnauthorizedOperation|NotAuthorized/i.test(String((error as Error).name));

/**
 * True when the endpoint does not implement the call at all: AWS-style unknown-operation
 * errors, HTTP 501, or (moto) an HTTP 500 whose body is not an AWS error document.
 */
export function isNotImplemented(error: unknown): boolean {
  const failure = error as Error & { $metadata?: { httpStatusCode?: number } };
  if (/NotImplemented|UnknownOperation|InvalidAction/i.test(failure.name ?? '')) return true;
  const status = failure.$metadata?.httpStatusCode;
  if (status === 501) return true;
  return status === 500 && (failure.name === 'Error' || /Deserialization error/i.test(failure.message ?? ''));
}

/** How the endpoint said it has no such call, in a few words. */
function whyNotImplemented(error: unknown): string {
  const failure = error as Error & { $metadata?: { httpStatusCode?: number } };
  const status = failure.$metadata?.httpStatusCode;
  if (failure.name && failure.name !== 'Error') return `${failure.name}${status ? `, HTTP ${status}` : ''}`;
  return `HTTP ${status ?? '?'} without an AWS error document`;
}

/** `handler=roleArn,handler=roleArn,...` (the HandlerRoles output) as a map; empty role ARNs are left out. */
export function parseHandlerRoles(value: string): Map<string, string> {
  const roles = new Map<string, string>();
  for (const pair of value.split(',')) {
    const at = pair.indexOf('=');
    if (at <= 0) continue;
    const role = pair.slice(at + 1).trim();
    if (role) roles.set(pair.slice(0, at).trim(), role);
  }
  return roles;
}

/** Read infra/handler-calls.json's content generically: handler → calls; anything malformed is an error. */
export function parseHandlerCalls(json: string): HandlerCalls {
  const parsed = JSON.parse(json) as unknown;
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error('not an object of handlers');
  const calls: HandlerCalls = {};
  for (const [handler, list] of Object.entries(parsed)) {
    if (!Array.isArray(list)) throw new Error(`${handler}: not a list of calls`);
    calls[handler] = list.map((call: unknown, index) => {
      const { action, resource } = (call ?? {}) as Record<string, unknown>;
      if (typeof action !== 'string' || typeof resource !== 'string')
        throw new Error(`${handler}[${index}]: needs "action" and "resource" strings`);
      return { action, resource };
    });
  }
  return calls;
}

/**
 * Check a deployed keyrot: the stack and its outputs, the state machines, table and topics, the
 * approvers (pool and allow-list), the link key, the archive's Object Lock, and every handler
 * role's permission for the calls it makes. Each check is independent; `report` sees each
 * result as it completes.
 */
export async function runDoctor(
  clients: DoctorClients,
  settings: DoctorSettings,
  report: (result: CheckResult) => void = () => {},
): Promise<CheckResult[]> {
  const results: CheckResult[] = [];
  const record = (check: string, outcome: Outcome) => {
    const result = { check, ...outcome };
    results.push(result);
    report(result);
  };
  const found: Found = { outputs: {}, stackFound: false };

  /** Run one check that needs `needs` outputs; SKIP without them, FAIL with the error when a call fails. */
  const check = async (
    name: string,
    needs: StackOutput[],
    action: string,
    run: (outputs: Required<Outputs>) => Promise<Outcome>,
  ) => {
    const missing = needs.filter((output) => !found.outputs[output]);
    if (!found.stackFound || missing.length > 0) {
      const reason = found.stackFound
        ? `needs stack output ${missing.join(', ')}`
        : `needs the stack ${settings.stackName}`;
      record(name, { status: 'SKIP', detail: reason });
      return;
    }
    try {
      record(name, await run(found.outputs as Required<Outputs>));
    } catch (error) {
      record(name, {
        status: 'FAIL',
        detail: `${action} failed: ${describe(error)}`,
        fix: isAccessDenied(error)
          ? `allow ${action} to the identity running keyrot doctor`
          : `${DEPLOY} (the stack creates it), or check the stack's outputs`,
      });
    }
  };

  record('stack', await stackCheck(clients, settings, found));

  for (const [name, output] of [
    ['rotation state machine', 'StateMachineArn'],
    ['scan state machine', 'ScanStateMachineArn'],
  ] as const) {
    await check(name, [output], 'states:DescribeStateMachine', async (outputs) => {
      const machine = await clients.sfn.send(new DescribeStateMachineCommand({ stateMachineArn: outputs[output] }));
      return machine.status === 'ACTIVE' || machine.status === undefined
        ? {
            status: 'OK',
            detail: `${machine.name} is ${machine.status ?? 'reachable'} (${machine.type ?? 'STANDARD'})`,
          }
        : { status: 'FAIL', detail: `${machine.name} is ${machine.status}`, fix: DEPLOY };
    });
  }
  await check('approvals table', ['ApprovalsTableName'], 'dynamodb:DescribeTable', async (outputs) => {
    const { Table } = await clients.dynamodb.send(new DescribeTableCommand({ TableName: outputs.ApprovalsTableName }));
    return Table?.TableStatus === 'ACTIVE'
      ? { status: 'OK', detail: `${Table.TableName} is ACTIVE` }
      : { status: 'FAIL', detail: `${outputs.ApprovalsTableName} is ${Table?.TableStatus}`, fix: DEPLOY };
  });
  for (const [name, output] of [
    ['notification topic', 'NotificationTopicArn'],
    ['alarm topic', 'AlarmTopicArn'],
  ] as const) {
    await check(name, [output], 'sns:GetTopicAttributes', async (outputs) => {
      const { Attributes } = await clients.sns.send(new GetTopicAttributesCommand({ TopicArn: outputs[output] }));
      const topic = outputs[output].split(':').at(-1);
      return { status: 'OK', detail: `${topic}: ${Attributes?.SubscriptionsConfirmed ?? 0} confirmed subscription(s)` };
    });
  }

  await check('approvers pool', ['ApproverPoolId'], 'cognito-idp:ListUsers', async (outputs) => {
    const users: NonNullable<Found['poolUsers']> = new Map();
    let token: string | undefined;
    for (let page = 0; page < 100; page += 1) {
      const listed = await clients.cognito.send(
        new ListUsersCommand({ UserPoolId: outputs.ApproverPoolId, PaginationToken: token }),
      );
      for (const user of listed.Users ?? []) {
        if (user.Username) users.set(user.Username, { enabled: user.Enabled !== false, status: user.UserStatus });
      }
      token = listed.PaginationToken;
      if (!token) break;
    }
    found.poolUsers = users;
    const enabled = [...users.values()].filter((user) => user.enabled).length;
    return enabled > 0
      ? { status: 'OK', detail: `${enabled} enabled user(s) in ${outputs.ApproverPoolId}` }
      : {
          status: 'FAIL',
          detail: `no enabled user in ${outputs.ApproverPoolId}: nobody can sign an approval`,
          fix: ADD_APPROVER,
        };
  });
  await check('approver allow-list', ['HandlerRoles'], 'lambda:GetFunctionConfiguration', async (outputs) => {
    const role = parseHandlerRoles(outputs.HandlerRoles).get('approval-api');
    if (!role) return { status: 'FAIL', detail: 'HandlerRoles names no approval-api role', fix: DEPLOY };
    const fn = await approvalFunction(clients, settings.stackName, role);
    if (!fn) {
      return { status: 'FAIL', detail: `no Lambda function of the stack runs as ${role}`, fix: DEPLOY };
    }
    found.approvalEnvironment = fn.environment;
    const approvers = (fn.environment.KEYROT_APPROVERS ?? '')
      .split(',')
      .map((name) => name.trim())
      .filter(Boolean);
    found.approvers = approvers;
    return approvers.length > 0
      ? { status: 'OK', detail: `${approvers.length} approver(s) allowed by ${fn.name}: ${approvers.join(', ')}` }
      : {
          status: 'FAIL',
          detail: `KEYROT_APPROVERS of ${fn.name} is empty: nobody may sign an approval`,
          fix: `${DEPLOY} -c keyrot:approvers=<user>,<user>`,
        };
  });
  if (!found.poolUsers || !found.approvers?.length) {
    record('allow-list in pool', {
      status: 'SKIP',
      detail: found.stackFound
        ? 'needs the approvers pool and a non-empty allow-list'
        : `needs the stack ${settings.stackName}`,
    });
  } else {
    const users = found.poolUsers;
    const strangers = found.approvers.filter((name) => users.get(name)?.enabled !== true);
    // Signing refuses an account still on the temporary password Cognito mailed (NEW_PASSWORD_REQUIRED).
    const waiting = found.approvers.filter(
      (name) => users.get(name)?.enabled === true && users.get(name)?.status === 'FORCE_CHANGE_PASSWORD',
    );
    const passwordPage = `${(found.outputs.ApprovalUrl ?? '<ApprovalUrl>').replace(/\/*$/, '/')}password`;
    const problems = [
      ...(strangers.length > 0
        ? [
            `allow-listed but not an enabled pool user: ${strangers
              .map((name) => (users.has(name) ? `${name} (disabled)` : name))
              .join(', ')}`,
          ]
        : []),
      ...(waiting.length > 0 ? [`still on the temporary password (FORCE_CHANGE_PASSWORD): ${waiting.join(', ')}`] : []),
    ];
    const fixes = [
      ...(strangers.length > 0
        ? [
            `${ADD_APPROVER.replace('<user>', strangers[0] ?? '<user>')}, or drop it with ${DEPLOY} -c keyrot:approvers=<names>`,
          ]
        : []),
      ...(waiting.length > 0 ? [`the approver sets a password at ${passwordPage}`] : []),
    ];
    record(
      'allow-list in pool',
      problems.length === 0
        ? {
            status: 'OK',
            detail: 'every allow-listed approver is an enabled user of the pool with a password of their own',
          }
        : { status: 'FAIL', detail: problems.join('; '), fix: fixes.join('; ') },
    );
  }

  await check('approval link key', ['ApprovalLinkKeyArn'], 'secretsmanager:DescribeSecret', async (outputs) => {
    // Describe only: the doctor never reads the key itself.
    const secret = await clients.secrets.send(new DescribeSecretCommand({ SecretId: outputs.ApprovalLinkKeyArn }));
    if (secret.DeletedDate) {
      return {
        status: 'FAIL',
        detail: `${secret.Name} is scheduled for deletion (${secret.DeletedDate.toISOString()})`,
        fix: `aws secretsmanager restore-secret --secret-id ${outputs.ApprovalLinkKeyArn}`,
      };
    }
    return { status: 'OK', detail: `${secret.Name} is present` };
  });

  await check('evidence Object Lock', ['ArchiveBucketName'], 's3:GetBucketObjectLockConfiguration', async (outputs) =>
    lockCheck(clients.s3, outputs.ArchiveBucketName),
  );

  await permissionChecks(clients, settings, found, record);
  return results;
}

async function stackCheck(clients: DoctorClients, settings: DoctorSettings, found: Found): Promise<Outcome> {
  let stack: Stack | undefined;
  try {
    stack = (await clients.cloudformation.send(new DescribeStacksCommand({ StackName: settings.stackName })))
      .Stacks?.[0];
  } catch (error) {
    if (/does not exist/.test((error as Error).message)) {
      return {
        status: 'FAIL',
        detail: `stack ${settings.stackName} not found in ${settings.region}`,
        fix: `${DEPLOY} (or name the deployed stack with --stack <name>)`,
      };
    }
    return {
      status: 'FAIL',
      detail: `cloudformation:DescribeStacks failed: ${describe(error)}`,
      fix: isAccessDenied(error)
        ? 'allow cloudformation:DescribeStacks to the identity running keyrot doctor'
        : 'check the AWS credentials and region (--profile, --region)',
    };
  }
  if (!stack) return { status: 'FAIL', detail: `stack ${settings.stackName} not found`, fix: DEPLOY };
  found.stackFound = true;
  for (const output of stack.Outputs ?? []) {
    if (output.OutputKey && output.OutputValue && (STACK_OUTPUTS as readonly string[]).includes(output.OutputKey)) {
      found.outputs[output.OutputKey as StackOutput] = output.OutputValue;
    }
  }
  const missing = STACK_OUTPUTS.filter((name) => !found.outputs[name]);
  if (missing.length > 0) {
    return {
      status: 'FAIL',
      detail: `${settings.stackName} (${stack.StackStatus}) lacks output(s): ${missing.join(', ')}`,
      fix: `${DEPLOY} (this version of the stack adds them)`,
    };
  }
  if (/FAILED$|ROLLBACK_COMPLETE$/.test(stack.StackStatus ?? '')) {
    return { status: 'FAIL', detail: `${settings.stackName} is ${stack.StackStatus}`, fix: DEPLOY };
  }
  return {
    status: 'OK',
    detail: `${settings.stackName} is ${stack.StackStatus}, all ${STACK_OUTPUTS.length} outputs present`,
  };
}

/**
 * The stack's Lambda function that runs as the approval API's role, with its environment. The
 * one whose logical id starts like the construct's (`approvalapi…`) is asked first.
 */
async function approvalFunction(
  clients: DoctorClients,
  stackName: string,
  roleArn: string,
): Promise<{ name: string; environment: Record<string, string> } | undefined> {
  const functions: { logicalId: string; name: string }[] = [];
  let token: string | undefined;
  for (let page = 0; page < 100; page += 1) {
    const listed = await clients.cloudformation.send(
      new ListStackResourcesCommand({ StackName: stackName, NextToken: token }),
    );
    for (const resource of listed.StackResourceSummaries ?? []) {
      if (resource.ResourceType === 'AWS::Lambda::Function' && resource.PhysicalResourceId) {
        functions.push({ logicalId: resource.LogicalResourceId ?? '', name: resource.PhysicalResourceId });
      }
    }
    token = listed.NextToken;
    if (!token) break;
  }
  const likely = (logicalId: string) => (/^approvalapi/i.test(logicalId) ? 0 : 1);
  functions.sort((a, b) => likely(a.logicalId) - likely(b.logicalId));
  for (const { name } of functions) {
    const config = await clients.lambda.send(new GetFunctionConfigurationCommand({ FunctionName: name }));
    if (config.Role === roleArn) {
      return { name: config.FunctionName ?? name, environment: config.Environment?.Variables ?? {} };
    }
  }
  return undefined;
}

async function lockCheck(s3: S3Client, bucket: string): Promise<Outcome> {
  const compliance = (days: number) =>
    `aws s3api put-object-lock-configuration --bucket ${bucket} --object-lock-configuration '{"ObjectLockEnabled":"Enabled","Rule":{"DefaultRetention":{"Mode":"COMPLIANCE","Days":${days}}}}'`;
  let lock;
  try {
    ({ ObjectLockConfiguration: lock } = await s3.send(new GetObjectLockConfigurationCommand({ Bucket: bucket })));
  } catch (error) {
    if ((error as Error).name !== 'ObjectLockConfigurationNotFoundError') throw error;
  }
  if (lock?.ObjectLockEnabled !== 'Enabled') {
    return {
      status: 'FAIL',
      detail: `Object Lock is not enabled on ${bucket}: archived records could be deleted`,
      fix: `${DEPLOY} (the stack creates the evidence bucket with Object Lock)`,
    };
  }
  const retention = lock.Rule?.DefaultRetention;
  const period = retention?.Days ? `${retention.Days} days` : retention?.Years ? `${retention.Years} years` : '';
  const days = retention?.Days ?? (retention?.Years ? retention.Years * 365 : DEFAULT_RETENTION_DAYS);
  if (!retention?.Mode) {
    return { status: 'FAIL', detail: `${bucket} has Object Lock but no default retention`, fix: compliance(days) };
  }
  if (retention.Mode !== 'COMPLIANCE') {
    return {
      status: 'FAIL',
      detail: `${bucket} retains in ${retention.Mode} mode (${period}), which a privileged user can lift`,
      fix: compliance(days),
    };
  }
  return { status: 'OK', detail: `${bucket}: COMPLIANCE mode, ${period} default retention` };
}

/** Concrete ARNs for the symbolic resource kinds of handler-calls.json, or why a kind has none. */
function resourceKinds(
  settings: DoctorSettings,
  found: Found,
  identity: { partition: string; account: string },
): Record<string, string | { skip: string }> {
  const { partition: p, account } = identity;
  const region = settings.region;
  const out = (name: StackOutput, arn: (value: string) => string) => {
    const value = found.outputs[name];
    return value ? arn(value) : { skip: `stack output ${name} missing` };
  };
  const path = `/${settings.userPath.replace(/^\/+|\/+$/g, '')}/`.replace('//', '/');
  const env = found.approvalEnvironment;
  const members = (env?.KEYROT_ACCOUNTS ?? '').split(',').filter(Boolean);
  return {
    user: `arn:${p}:iam::${account}:user${path}${PROBE_NAME}`,
    'user-secret': `arn:${p}:secretsmanager:${region}:${account}:secret:${settings.secretPrefix}${PROBE_NAME}-AbCdEf`,
    'link-key': out('ApprovalLinkKeyArn', (arn) => arn),
    'approvals-table': out('ApprovalsTableName', (name) => `arn:${p}:dynamodb:${region}:${account}:table/${name}`),
    // The one index handlers query (superseding a gate, closing an ended execution's approvals).
    'approvals-index': out(
      'ApprovalsTableName',
      (name) => `arn:${p}:dynamodb:${region}:${account}:table/${name}/index/${BY_EXECUTION.name}`,
    ),
    'notification-topic': out('NotificationTopicArn', (arn) => arn),
    'alarm-topic': out('AlarmTopicArn', (arn) => arn),
    'archive-bucket': out('ArchiveBucketName', (name) => `arn:${p}:s3:::${name}`),
    'archive-object': out('ArchiveBucketName', (name) => `arn:${p}:s3:::${name}/${PROBE_NAME}`),
    'scan-object': out('ScanListsBucketName', (name) => `arn:${p}:s3:::${name}/scans/${PROBE_NAME}`),
    'rotation-state-machine': out('StateMachineArn', (arn) => arn),
    'rotation-execution': out(
      'StateMachineArn',
      (arn) => `${arn.replace(':stateMachine:', ':execution:')}:${PROBE_NAME}`,
    ),
    'scan-state-machine': out('ScanStateMachineArn', (arn) => arn),
    'approver-pool': out('ApproverPoolId', (id) => `arn:${p}:cognito-idp:${region}:${account}:userpool/${id}`),
    'kms-key': env?.KEYROT_KMS_KEY_ID?.startsWith('arn:')
      ? env.KEYROT_KMS_KEY_ID
      : { skip: "the KMS key's ARN is unknown (approval-api's KEYROT_KMS_KEY_ID)" },
    'member-role':
      members.length > 0 && members[0] !== 'organizations'
        ? `arn:${p}:iam::${members[0]}:role/${env?.KEYROT_MEMBER_ROLE || 'KeyrotMember'}`
        : { skip: 'no member account configured (approval-api KEYROT_ACCOUNTS)' },
    any: '*',
  };
}

/** Check 6: simulate each handler role's calls (IAM SimulatePrincipalPolicy), one row per handler. */
async function permissionChecks(
  clients: DoctorClients,
  settings: DoctorSettings,
  found: Found,
  record: (check: string, outcome: Outcome) => void,
): Promise<void> {
  const calls = settings.handlerCalls;
  if (typeof calls === 'string') {
    record('permissions', { status: 'SKIP', detail: calls });
    return;
  }
  const rolesOutput = found.outputs.HandlerRoles;
  if (!rolesOutput) {
    record('permissions', {
      status: 'SKIP',
      detail: found.stackFound ? 'needs stack output HandlerRoles' : `needs the stack ${settings.stackName}`,
    });
    return;
  }
  const roles = parseHandlerRoles(rolesOutput);
  let identity;
  try {
    const caller = await clients.sts.send(new GetCallerIdentityCommand({}));
    identity = { partition: (caller.Arn ?? 'arn:aws').split(':')[1] ?? 'aws', account: caller.Account ?? '' };
  } catch (error) {
    record('permissions', {
      status: 'FAIL',
      detail: `sts:GetCallerIdentity failed: ${describe(error)}`,
      fix: 'check the AWS credentials (--profile)',
    });
    return;
  }
  const kinds = resourceKinds(settings, found, identity);
  const context: ContextEntry[] = settings.userTag
    ? [{ ContextKeyName: `iam:ResourceTag/${settings.userTag}`, ContextKeyValues: ['true'], ContextKeyType: 'string' }]
    : [];

  for (const [handler, handlerCalls] of Object.entries(calls)) {
    const name = `permissions: ${handler}`;
    const role = roles.get(handler);
    if (!role) {
      record(name, { status: 'FAIL', detail: `HandlerRoles names no role for ${handler}`, fix: DEPLOY });
      continue;
    }
    const byArn = new Map<string, { kind: string; actions: Set<string> }>();
    const skipped: string[] = [];
    for (const call of handlerCalls) {
      // The ledger's `none`: a call IAM does not authorize (GetCallerIdentity, a sign-in).
      if (call.resource === 'none') continue;
      const arn = Object.hasOwn(kinds, call.resource) ? kinds[call.resource] : { skip: 'unknown resource kind' };
      if (arn === undefined || typeof arn !== 'string') {
        skipped.push(`${call.action} on ${call.resource} (${arn?.skip ?? 'unknown resource kind'})`);
        continue;
      }
      const entry = byArn.get(arn) ?? { kind: call.resource, actions: new Set<string>() };
      entry.actions.add(call.action);
      byArn.set(arn, entry);
    }
    const denied: string[] = [];
    let allowed = 0;
    try {
      for (const [arn, { kind, actions }] of byArn) {
        let marker: string | undefined;
        for (let page = 0; page < 100; page += 1) {
          const simulated = await clients.iam.send(
            new SimulatePrincipalPolicyCommand({
              PolicySourceArn: role,
              ActionNames: [...actions],
              ResourceArns: [arn],
              ContextEntries: kind === 'user' && context.length ? context : undefined,
              Marker: marker,
            }),
          );
          for (const result of simulated.EvaluationResults ?? []) {
            if (result.EvalDecision === 'allowed') allowed += 1;
            else denied.push(`${result.EvalActionName} on ${arn} (${result.EvalDecision})`);
          }
          marker = simulated.IsTruncated ? simulated.Marker : undefined;
          if (!marker) break;
        }
      }
    } catch (error) {
      if (isNotImplemented(error)) {
        // One row for the whole check: the endpoint cannot answer it for any role.
        record('permissions', {
          status: 'SKIP',
          detail: `the endpoint does not implement iam:SimulatePrincipalPolicy (${whyNotImplemented(error)}), so the roles were not simulated`,
        });
        return;
      }
      if (isAccessDenied(error)) {
        record('permissions', {
          status: 'FAIL',
          detail: `iam:SimulatePrincipalPolicy failed: ${describe(error)}`,
          fix: 'allow iam:SimulatePrincipalPolicy on the handler roles to the identity running keyrot doctor',
        });
        return;
      }
      record(name, { status: 'FAIL', detail: `iam:SimulatePrincipalPolicy failed: ${describe(error)}`, fix: DEPLOY });
      continue;
    }
    if (denied.length > 0) {
      record(name, {
        status: 'FAIL',
        detail: `${handler} is denied ${denied.join('; ')}`,
        fix: `grant it to the ${handler} role in infra/keyrot-stack.ts, then ${DEPLOY}`,
      });
    } else if (allowed > 0 || skipped.length === 0) {
      const detail = handlerCalls.length === 0 ? 'makes no AWS call' : `${allowed} call(s) allowed`;
      record(name, { status: 'OK', detail: `${detail} (${role.split('/').at(-1)})` });
    }
    if (skipped.length > 0) {
      record(`${name} (not simulated)`, { status: 'SKIP', detail: skipped.join('; ') });
    }
  }
}
