import { existsSync, readdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { runSimulation, type Simulation } from '@cloud-copilot/iam-simulate';
import { App } from 'aws-cdk-lib';
import { buildApp } from '../../infra/app';
import type { LedgerEntry } from '../../local/ledger';

/**
 * The permission model of the synthesized stacks, evaluated by @cloud-copilot/iam-simulate
 * (a real evaluator: resources, conditions, explicit denies, resource policies, cross-account).
 * The template is the deployed truth; local names from the ledger are mapped onto it by kind.
 */

const ROOT = path.resolve(import.meta.dirname, '../..');
export const ACCOUNT = '123456789012';
export const REGION = 'us-east-1';

type Json = Record<string, unknown>;
interface Resource {
  Type: string;
  Properties?: Json;
}
export interface Template {
  Resources: Record<string, Resource>;
  Outputs?: Record<string, { Value: unknown }>;
}

/** A synth setting the README documents: the name it is reported under and its context. */
export interface Variant {
  name: string;
  context: Record<string, string>;
}

/** Every synth variant the README documents. */
export const VARIANTS: Variant[] = [
  { name: 'default', context: {} },
  {
    name: 'deploy example (user path and tag)',
    context: { 'keyrot:userPath': '/service-accounts/', 'keyrot:userTag': 'keyrot:managed' },
  },
  {
    name: 'listed member accounts',
    context: {
      'keyrot:accounts': '444455556666,777788889999',
      'keyrot:externalId': 'keyrot-external-id',
      'keyrot:keyrotAccount': ACCOUNT,
    },
  },
  {
    name: 'organizations',
    context: {
      'keyrot:accounts': 'organizations',
      'keyrot:externalId': 'keyrot-external-id',
      'keyrot:keyrotAccount': ACCOUNT,
    },
  },
];

/** A synthesized variant: the keyrot stack's and (with members) the member stack's templates. */
export interface Synthesized {
  variant: Variant;
  settings: {
    userPath: string;
    userTag?: string;
    secretPrefix: string;
    members: string[] | 'organizations' | [];
    externalId?: string;
  };
  template: Template;
  member?: Template;
  /** Each Lambda of the stack by handler name: its function and role logical ids. */
  functions: Record<string, { functionId: string; roleId: string }>;
}

/** Synthesize a variant (cdk.json's context first, as `cdk synth` reads it; bundling skipped). */
export function synthesize(variant: Variant): Synthesized {
  const cdkJson = JSON.parse(readFileSync(path.join(ROOT, 'cdk.json'), 'utf8')) as { context: Json };
  const context = { ...cdkJson.context, ...variant.context };
  const { app, stack, member } = buildApp(new App({ context: { ...context, 'aws:cdk:bundling-stacks': [] } }));
  const assembly = app.synth();
  const template = assembly.getStackByName(stack.stackName).template as Template;
  const functions: Synthesized['functions'] = {};
  for (const [name, fn] of Object.entries(stack.lambdas)) {
    const functionId = stack.resolve(stack.getLogicalId(fn.node.defaultChild as never)) as string;
    const role = template.Resources[functionId]?.Properties?.Role as { 'Fn::GetAtt': [string, string] };
    functions[name] = { functionId, roleId: role['Fn::GetAtt'][0] };
  }
  const accounts = context['keyrot:accounts'] as string | undefined;
  return {
    variant,
    settings: {
      userPath: (context['keyrot:userPath'] as string | undefined) ?? '/',
      userTag: context['keyrot:userTag'] as string | undefined,
      secretPrefix: (context['keyrot:secretPrefix'] as string | undefined) ?? 'keyrot/',
      members: accounts === 'organizations' ? 'organizations' : (accounts?.split(',') ?? []),
      externalId: context['keyrot:externalId'] as string | undefined,
    },
    template,
    ...(member ? { member: assembly.getStackByName(member.stackName).template as Template } : {}),
    functions,
  };
}

/**
 * Resolve CloudFormation intrinsics to the names the resources would have when deployed
 * (their logical ids stand in for generated names) in account ACCOUNT, region REGION.
 */
export function resolver(template: Template, account = ACCOUNT): (value: unknown) => unknown {
  const pseudo: Record<string, string> = {
    'AWS::AccountId': account,
    'AWS::Region': REGION,
    'AWS::Partition': 'aws',
    'AWS::URLSuffix': 'amazonaws.com',
    'AWS::StackName': 'Keyrot',
  };
  const attribute = (id: string, name: string): string => {
    const resource = template.Resources[id];
    if (!resource) throw new Error(`the template has no resource ${id}`);
    const own = `${REGION}:${account}`;
    const arns: Record<string, string> = {
      'AWS::IAM::Role': roleArn(account, id),
      'AWS::Lambda::Function': `arn:aws:lambda:${own}:function:${id}`,
      'AWS::DynamoDB::Table': `arn:aws:dynamodb:${own}:table/${id}`,
      'AWS::SNS::Topic': `arn:aws:sns:${own}:${id}`,
      'AWS::KMS::Key': `arn:aws:kms:${own}:key/${id}`,
      'AWS::SecretsManager::Secret': `arn:aws:secretsmanager:${own}:secret:${id}-AbCdEf`,
      'AWS::S3::Bucket': `arn:aws:s3:::${id.toLowerCase()}`,
      'AWS::SQS::Queue': `arn:aws:sqs:${own}:${id}`,
      'AWS::StepFunctions::StateMachine': `arn:aws:states:${own}:stateMachine:${String(resolve(resource.Properties?.StateMachineName ?? id))}`,
      'AWS::Logs::LogGroup': `arn:aws:logs:${own}:log-group:${id}:*`,
      'AWS::Cognito::UserPool': `arn:aws:cognito-idp:${own}:userpool/${REGION}_${id}`,
      'AWS::Events::Rule': `arn:aws:events:${own}:rule/${id}`,
      'AWS::Scheduler::Schedule': `arn:aws:scheduler:${own}:schedule/default/${id}`,
      'AWS::CloudWatch::Alarm': `arn:aws:cloudwatch:${own}:alarm:${id}`,
    };
    const arn = arns[resource.Type] ?? `arn:aws:cloudformation:${own}:resource/${id}`;
    if (name === 'Ref') {
      if (
        ['AWS::SNS::Topic', 'AWS::SecretsManager::Secret', 'AWS::StepFunctions::StateMachine'].includes(resource.Type)
      )
        return arn;
      if (resource.Type === 'AWS::S3::Bucket') return id.toLowerCase();
      if (resource.Type === 'AWS::SQS::Queue') return `https://sqs.${REGION}.amazonaws.com/${account}/${id}`;
      if (resource.Type === 'AWS::Cognito::UserPool') return `${REGION}_${id}`;
      return id;
    }
    if (name === 'Arn' || name === 'TopicArn' || name === 'QueueArn') return arn;
    if (name === 'Name' || name === 'QueueName') return id;
    if (name === 'FunctionUrl') return `https://${id.toLowerCase()}.lambda-url.${REGION}.on.aws/`;
    return `${id}.${name}`;
  };
  const resolve = (value: unknown): unknown => {
    if (Array.isArray(value)) return value.map(resolve);
    if (!value || typeof value !== 'object') return value;
    const token = value as Json;
    if (typeof token.Ref === 'string') return pseudo[token.Ref] ?? attribute(token.Ref, 'Ref');
    if (token['Fn::GetAtt']) {
      const [id, name] = Array.isArray(token['Fn::GetAtt'])
        ? (token['Fn::GetAtt'] as [string, string])
        : (String(token['Fn::GetAtt']).split('.') as [string, string]);
      return attribute(id, name);
    }
    if (token['Fn::Join']) {
      const [separator, parts] = token['Fn::Join'] as [string, unknown[]];
      return (resolve(parts) as unknown[]).join(separator);
    }
    if (token['Fn::Split']) {
      const [separator, source] = token['Fn::Split'] as [string, unknown];
      return String(resolve(source)).split(separator);
    }
    if (token['Fn::Select']) {
      const [index, list] = token['Fn::Select'] as [number, unknown];
      return (resolve(list) as unknown[])[Number(index)];
    }
    if (token['Fn::Sub']) {
      const [text, vars] = (Array.isArray(token['Fn::Sub']) ? token['Fn::Sub'] : [token['Fn::Sub'], {}]) as [
        string,
        Json,
      ];
      return text.replace(/\$\{([^}]+)\}/g, (_, name: string) => {
        if (name in vars) return String(resolve(vars[name]));
        if (pseudo[name]) return pseudo[name];
        const [id, attr] = name.split('.');
        return attribute(id as string, attr ?? 'Ref');
      });
    }
    return Object.fromEntries(Object.entries(token).map(([key, inner]) => [key, resolve(inner)]));
  };
  return resolve;
}

/** A role of the keyrot stack as deployed: CloudFormation names it `<stack>-<logical id>-<suffix>`. */
export function roleArn(account: string, logicalId: string): string {
  return `arn:aws:iam::${account}:role/Keyrot-${logicalId}`;
}

/** The AWS managed policy every function role carries (its content as AWS publishes it). */
const BASIC_EXECUTION = {
  Version: '2012-10-17',
  Statement: [
    {
      Effect: 'Allow',
      Action: ['logs:CreateLogGroup', 'logs:CreateLogStream', 'logs:PutLogEvents'],
      Resource: '*',
    },
  ],
};

/** A role's identity policies as synthesized: its inline policies and every AWS::IAM::Policy attached to it. */
export function rolePolicies(template: Template, roleId: string, account = ACCOUNT): { name: string; policy: Json }[] {
  const resolve = resolver(template, account);
  const role = template.Resources[roleId];
  if (!role) throw new Error(`the template has no role ${roleId}`);
  const policies: { name: string; policy: Json }[] = [];
  for (const inline of (role.Properties?.Policies as { PolicyName: string; PolicyDocument: Json }[]) ?? [])
    policies.push({ name: inline.PolicyName, policy: resolve(inline.PolicyDocument) as Json });
  for (const managed of (resolve(role.Properties?.ManagedPolicyArns ?? []) as string[]) ?? []) {
    if (!managed.endsWith('service-role/AWSLambdaBasicExecutionRole'))
      throw new Error(`role ${roleId} has a managed policy the model does not know: ${managed}`);
    policies.push({ name: 'AWSLambdaBasicExecutionRole', policy: BASIC_EXECUTION });
  }
  for (const [id, resource] of Object.entries(template.Resources)) {
    if (resource.Type !== 'AWS::IAM::Policy') continue;
    const roles = (resource.Properties?.Roles as { Ref: string }[]) ?? [];
    if (roles.some((ref) => ref.Ref === roleId))
      policies.push({ name: id, policy: resolve(resource.Properties?.PolicyDocument) as Json });
  }
  return policies;
}

/** The logical id of the one resource of a type (or the one whose properties match). */
function only(template: Template, type: string, match: (resource: Resource) => boolean = () => true): string {
  const found = Object.entries(template.Resources).filter(([, r]) => r.Type === type && match(r));
  if (found.length !== 1) throw new Error(`expected one ${type}, found ${found.length}`);
  return (found[0] as [string, Resource])[0];
}

/** The resource policy that governs a resource, as synthesized (undefined when there is none). */
export function resourcePolicyOf(template: Template, logicalId: string): Json | undefined {
  const resolve = resolver(template);
  const resource = template.Resources[logicalId];
  if (!resource) return undefined;
  if (resource.Type === 'AWS::KMS::Key') return resolve(resource.Properties?.KeyPolicy) as Json;
  if (resource.Type === 'AWS::IAM::Role') return resolve(resource.Properties?.AssumeRolePolicyDocument) as Json;
  const refersTo = (value: unknown) => JSON.stringify(value).includes(`"${logicalId}"`);
  const by: Record<string, [string, string]> = {
    'AWS::S3::Bucket': ['AWS::S3::BucketPolicy', 'Bucket'],
    'AWS::SNS::Topic': ['AWS::SNS::TopicPolicy', 'Topics'],
    'AWS::SQS::Queue': ['AWS::SQS::QueuePolicy', 'Queues'],
    'AWS::SecretsManager::Secret': ['AWS::SecretsManager::ResourcePolicy', 'SecretId'],
  };
  const [type, property] = by[resource.Type] ?? [];
  if (type && property) {
    const policy = Object.values(template.Resources).find((r) => r.Type === type && refersTo(r.Properties?.[property]));
    const document = policy?.Properties?.PolicyDocument ?? policy?.Properties?.ResourcePolicy;
    return document ? (resolve(document) as Json) : undefined;
  }
  if (resource.Type === 'AWS::Lambda::Function') {
    // Lambda permissions, written as the resource policy Lambda builds from them.
    const statements = Object.values(template.Resources)
      .filter((r) => r.Type === 'AWS::Lambda::Permission' && refersTo(r.Properties?.FunctionName))
      .map((r) => {
        const p = resolve(r.Properties) as Record<string, string>;
        const principal =
          p.Principal === '*'
            ? '*'
            : p.Principal?.endsWith('.amazonaws.com')
              ? { Service: p.Principal }
              : { AWS: p.Principal };
        const condition: Json = {};
        const equals: Record<string, string> = {};
        if (p.SourceArn) condition.ArnLike = { 'aws:SourceArn': p.SourceArn };
        if (p.SourceAccount) equals['aws:SourceAccount'] = p.SourceAccount;
        if (p.FunctionUrlAuthType) equals['lambda:FunctionUrlAuthType'] = p.FunctionUrlAuthType;
        if (Object.keys(equals).length) condition.StringEquals = equals;
        if ((p as Json).InvokedViaFunctionUrl === true || String((p as Json).InvokedViaFunctionUrl) === 'true')
          condition.Bool = { 'lambda:InvokedViaFunctionUrl': 'true' };
        return {
          Effect: 'Allow',
          Principal: principal,
          Action: p.Action,
          Resource: resolve({ 'Fn::GetAtt': [logicalId, 'Arn'] }),
          ...(Object.keys(condition).length ? { Condition: condition } : {}),
        };
      });
    return statements.length ? { Version: '2012-10-17', Statement: statements } : undefined;
  }
  return undefined;
}

/** One request to evaluate: who asks for what on which resource, with which policies. */
export interface Request {
  principal: string;
  action: string;
  resource: string;
  resourceAccount: string;
  context?: Record<string, string | string[]>;
  identityPolicies: { name: string; policy: Json }[];
  resourcePolicy?: Json;
}

/** Evaluate one request; `Allowed` or the reason it is not. */
export async function evaluate(request: Request): Promise<{ allowed: boolean; result: string; detail: string }> {
  const simulation: Simulation = {
    request: {
      principal: request.principal,
      action: request.action,
      resource: { resource: request.resource, accountId: request.resourceAccount },
      contextVariables: { 'aws:SecureTransport': 'true', ...request.context },
    },
    identityPolicies: request.identityPolicies,
    serviceControlPolicies: [],
    resourceControlPolicies: [],
    ...(request.resourcePolicy ? { resourcePolicy: request.resourcePolicy } : {}),
  };
  const result = (await runSimulation(simulation, {})) as {
    overallResult?: string;
    errors?: { message: string };
  };
  if (result.errors) return { allowed: false, result: 'Error', detail: result.errors.message };
  return {
    allowed: result.overallResult === 'Allowed',
    result: result.overallResult ?? 'Unknown',
    detail: result.overallResult ?? JSON.stringify(result).slice(0, 300),
  };
}

/** Every ledger entry recorded under `dir` (one JSON line per call). */
export function readLedger(dir: string): LedgerEntry[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((file) => file.endsWith('.jsonl'))
    .flatMap((file) =>
      readFileSync(path.join(dir, file), 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((line) => JSON.parse(line) as LedgerEntry),
    );
}

/** A call as the deployed stack would see it: who, what, on which deployed resource. */
export interface DeployedCall {
  handler: string;
  action: string;
  kind: string;
  /** The role that makes it: a handler's, or the member role in a member account. */
  role: 'handler' | 'member';
  resource: string;
  resourceAccount: string;
  /** The logical id of the resource whose policy governs it (KMS key, bucket, topic, member role). */
  governedBy?: { template: 'stack' | 'member'; logicalId: string };
  context: Record<string, string>;
  /** Why the call exists when the ledger did not record it directly (KMS behind Secrets Manager). */
  impliedBy?: string;
}

const MEMBER_ROLE_NAME = 'KeyrotMember';

/**
 * Map a recorded call onto a synthesized variant: the deployed resource its kind names there
 * (managed path, tag, secret prefix, the stack's own table, topic, bucket and key), plus the
 * KMS calls the service makes with the caller's permissions. Returns nothing for a call the
 * variant would never make (a member account call where no member is configured).
 */
export function deployedCalls(entry: LedgerEntry, synth: Synthesized): DeployedCall[] {
  const { template, settings } = synth;
  const resolve = resolver(template);
  const members = settings.members;
  const memberAccount = members === 'organizations' ? '444455556666' : members[0];
  const viaMember = entry.identity === 'member' || entry.kind === 'member-role';
  if (viaMember && !memberAccount) return [];
  if (entry.action.startsWith('organizations:') && members !== 'organizations') return [];
  if (entry.kind === 'none' || entry.identity === 'key') return [];
  const account = entry.identity === 'member' ? (memberAccount as string) : ACCOUNT;
  const role = entry.identity === 'member' ? 'member' : 'handler';
  const fn = synth.functions[entry.handler];
  if (!fn) throw new Error(`the ledger names a handler the stack does not have: ${entry.handler}`);
  const environment = (template.Resources[fn.functionId]?.Properties?.Environment as { Variables: Json })?.Variables;
  const env = (name: string): unknown => {
    const own = environment?.[name];
    if (own !== undefined) return own;
    for (const resource of Object.values(template.Resources)) {
      const value = (resource.Properties?.Environment as { Variables?: Json } | undefined)?.Variables?.[name];
      if (value !== undefined) return value;
    }
    throw new Error(`no function of the stack has ${name}`);
  };
  const logicalIdOf = (value: unknown): string => {
    const token = value as { Ref?: string; 'Fn::GetAtt'?: [string, string] };
    return token.Ref ?? token['Fn::GetAtt']?.[0] ?? '';
  };
  const keyId = logicalIdOf(env('KEYROT_KMS_KEY_ID'));
  const keyArn = String(resolve(env('KEYROT_KMS_KEY_ID')));
  const tagContext: Record<string, string> = settings.userTag
    ? { [`iam:ResourceTag/${settings.userTag}`]: 'true' }
    : {};
  const base = {
    handler: entry.handler,
    action: entry.action,
    kind: entry.kind,
    role,
    resourceAccount: account,
  } as const;
  const calls: DeployedCall[] = [];
  const kms = (actions: string[], service: string, why: string) => {
    if (entry.identity === 'member') return; // member secrets use the member account's default key
    for (const action of actions)
      calls.push({
        ...base,
        action,
        kind: 'kms-key',
        resource: keyArn,
        resourceAccount: ACCOUNT,
        governedBy: { template: 'stack', logicalId: keyId },
        context: { 'kms:ViaService': `${service}.${REGION}.amazonaws.com` },
        impliedBy: why,
      });
  };
  const why = `${entry.action} on the KMS-encrypted ${entry.kind}`;
  switch (entry.kind) {
    case 'user':
      calls.push({
        ...base,
        resource: `arn:aws:iam::${account}:user${settings.userPath}${entry.name ?? '(unknown)'}`,
        context: tagContext,
      });
      break;
    case 'user-secret': {
      calls.push({
        ...base,
        resource: `arn:aws:secretsmanager:${REGION}:${account}:secret:${settings.secretPrefix}${entry.name}-AbCdEf`,
        context: {},
      });
      if (entry.action === 'secretsmanager:GetSecretValue') kms(['kms:Decrypt'], 'secretsmanager', why);
      if (['secretsmanager:CreateSecret', 'secretsmanager:PutSecretValue'].includes(entry.action))
        kms(['kms:GenerateDataKey', 'kms:Decrypt'], 'secretsmanager', why);
      break;
    }
    case 'link-key': {
      const secret = env('KEYROT_LINK_KEY_SECRET');
      calls.push({
        ...base,
        resource: String(resolve(secret)),
        governedBy: { template: 'stack', logicalId: logicalIdOf(secret) },
        context: {},
      });
      if (entry.action === 'secretsmanager:GetSecretValue') kms(['kms:Decrypt'], 'secretsmanager', why);
      break;
    }
    case 'approvals-table':
    case 'approvals-index': {
      const table = env('KEYROT_APPROVALS_TABLE');
      const arn = String(resolve({ 'Fn::GetAtt': [logicalIdOf(table), 'Arn'] }));
      calls.push({
        ...base,
        resource: entry.kind === 'approvals-index' ? `${arn}/index/${entry.name}` : arn,
        context: {},
      });
      kms(['kms:Decrypt'], 'dynamodb', why);
      break;
    }
    case 'notification-topic': {
      const topic = env('KEYROT_TOPIC_ARN');
      calls.push({
        ...base,
        resource: String(resolve(topic)),
        governedBy: { template: 'stack', logicalId: logicalIdOf(topic) },
        context: {},
      });
      // Only publishing encrypts a message; reading the topic's attributes (Detect) uses no key.
      if (entry.action === 'sns:Publish') kms(['kms:GenerateDataKey', 'kms:Decrypt'], 'sns', why);
      break;
    }
    case 'archive-bucket':
    case 'archive-object': {
      const bucket = env('KEYROT_ARCHIVE_BUCKET');
      const name = String(resolve(bucket));
      calls.push({
        ...base,
        resource: entry.kind === 'archive-bucket' ? `arn:aws:s3:::${name}` : `arn:aws:s3:::${name}/${entry.name}`,
        governedBy: { template: 'stack', logicalId: logicalIdOf(bucket) },
        context: {},
      });
      if (entry.action === 's3:PutObject' && entry.context['s3:object-lock-mode'])
        calls.push({
          ...(calls.at(-1) as DeployedCall),
          action: 's3:PutObjectRetention',
          context: entry.context,
          impliedBy: 'a write that sets an Object Lock retention',
        });
      if (entry.action === 's3:PutObject') kms(['kms:GenerateDataKey'], 's3', why);
      if (entry.action === 's3:GetObject') kms(['kms:Decrypt'], 's3', why);
      break;
    }
    case 'scan-object': {
      const bucket = env('KEYROT_SCAN_BUCKET');
      calls.push({
        ...base,
        resource: `arn:aws:s3:::${String(resolve(bucket))}/${entry.name}`,
        governedBy: { template: 'stack', logicalId: logicalIdOf(bucket) },
        context: {},
      });
      if (entry.action === 's3:PutObject') kms(['kms:GenerateDataKey'], 's3', why);
      if (entry.action === 's3:GetObject') kms(['kms:Decrypt'], 's3', why);
      break;
    }
    case 'rotation-state-machine':
      calls.push({ ...base, resource: String(resolve(env('KEYROT_STATE_MACHINE_ARN'))), context: {} });
      break;
    case 'rotation-execution': {
      const machine = only(template, 'AWS::StepFunctions::StateMachine', (r) =>
        JSON.stringify(r.Properties?.StateMachineName ?? '').includes('-rotation'),
      );
      const machineArn = String(resolve({ Ref: machine }));
      calls.push({
        ...base,
        resource: `${machineArn.replace(':stateMachine:', ':execution:')}:${entry.name}`,
        context: {},
      });
      break;
    }
    case 'member-role':
      calls.push({
        ...base,
        resource: `arn:aws:iam::${memberAccount}:role/${MEMBER_ROLE_NAME}`,
        resourceAccount: memberAccount as string,
        governedBy: { template: 'member', logicalId: only(synth.member as Template, 'AWS::IAM::Role') },
        // The variant's own external id: the local runs use another.
        context: { ...entry.context, 'sts:ExternalId': settings.externalId ?? '' },
      });
      break;
    case 'signing-key': {
      const signing = env('KEYROT_SIGNING_KEY_ID');
      calls.push({
        ...base,
        resource: String(resolve(signing)),
        governedBy: { template: 'stack', logicalId: logicalIdOf(signing) },
        context: {},
      });
      break;
    }
    case 'approver-pool': {
      const pool = only(template, 'AWS::Cognito::UserPool');
      calls.push({ ...base, resource: String(resolve({ 'Fn::GetAtt': [pool, 'Arn'] })), context: {} });
      break;
    }
    case 'any':
      calls.push({ ...base, resource: '*', context: {} });
      break;
    default:
      calls.push({ ...base, resource: entry.arn, context: {} });
  }
  return calls;
}

/** Evaluate a deployed call against the variant's templates: the role's policies and the resource's policy. */
export async function evaluateCall(call: DeployedCall, synth: Synthesized) {
  const member = call.role === 'member';
  const template = member ? (synth.member as Template) : synth.template;
  const roleId = member ? only(template, 'AWS::IAM::Role') : (synth.functions[call.handler]?.roleId as string);
  const account = member ? call.resourceAccount : ACCOUNT;
  const governing = call.governedBy
    ? resourcePolicyOf(
        call.governedBy.template === 'member' ? (synth.member as Template) : synth.template,
        call.governedBy.logicalId,
      )
    : undefined;
  const principal = member ? `arn:aws:iam::${account}:role/${MEMBER_ROLE_NAME}` : roleArn(account, roleId);
  return evaluate({
    principal,
    action: call.action,
    resource: call.resource,
    resourceAccount: call.resourceAccount,
    context: {
      'aws:PrincipalArn': principal,
      'aws:PrincipalAccount': account,
      ...call.context,
    },
    identityPolicies: rolePolicies(template, roleId, account),
    ...(governing ? { resourcePolicy: governing } : {}),
  });
}
