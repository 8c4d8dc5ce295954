import { DescribeUserPoolClientCommand } from '@aws-sdk/client-cognito-identity-provider';
import { DescribeTableCommand } from '@aws-sdk/client-dynamodb';
import { GetAccessKeyLastUsedCommand, GetUserCommand, type Tag } from '@aws-sdk/client-iam';
import { DescribeSecretCommand, GetSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import { GetTopicAttributesCommand } from '@aws-sdk/client-sns';
import type { Clients, Settings } from '../shared/clients';
import { InvalidInputError, MisconfiguredError, UserNotFoundError } from '../shared/errors';
import { logger } from '../shared/logger';
import {
  describeIssues,
  ExecutionInput,
  type Decision,
  type Detection,
  type KeySummary,
  type RotationState,
} from '../shared/schemas';
import { isNoSuchEntity, listKeys } from './keys';
import { verifyRequester } from './requester';
import {
  DEFAULT_SECRET_FORMAT,
  isProblem,
  isSecretFormat,
  parseSecret,
  SECRET_FORMAT_TAG,
  type SecretFormat,
} from './secret-format';

const DAY_MS = 86_400_000;

export interface DetectRequest {
  /** The raw execution input, validated here so bad input changes nothing. */
  input: unknown;
  executionId: string;
  startedAt: string;
}

/** Who asks for the rotation, as an authenticated ARN (the requester's proof replayed to STS). */
export type Identify = (input: ExecutionInput, request: DetectRequest) => Promise<string>;

/** The workflow's way to know the requester: replay the proof in the input, bound to this execution. */
export const requesterOfInput: Identify = (input, request) =>
  verifyRequester(input.requester, {
    executionArn: request.executionId,
    userName: input.userName,
    ...(input.account ? { account: input.account } : {}),
  });

/** The settings Detect reads: the secret's name, the exemption, the managed scope and what the gates need. */
export type DetectSettings = Pick<Settings, 'secretPrefix' | 'exemptTag'> &
  Partial<Pick<Settings, 'topicArn' | 'approvalsTable' | 'linkKeySecret' | 'approverPoolId' | 'approverClientId'>> & {
    /** Only users under this IAM path are managed (KEYROT_USER_PATH; default every user). */
    userPath?: string;
    /** Only users tagged `<userTag>=true` are managed (KEYROT_USER_TAG). */
    userTag?: string;
  };

type DetectClients = Pick<Clients, 'iam'> & Partial<Pick<Clients, 'secrets' | 'sns' | 'ddb' | 'cognito'>>;

type Check = NonNullable<Detection['checks']>[number];

/**
 * Step 1: validate the request and verify who asks (before any AWS call, even the member
 * account's AssumeRole; a start without a verifiable requester is InvalidInput), read the user's keys, their age and last use, and decide ROTATE / NOT_DUE / NO_KEY / EXEMPT /
 * BLOCKED; then, for a rotation, check its preconditions: the user is managed, the secret
 * exists and its AWSCURRENT holds the active key in a shape keyrot reads (else SECRET_* or
 * NOT_MANAGED), and every setting the rotation will need answers (else `Misconfigured`).
 * Reads only; never changes anything.
 */
export async function detectKeys(
  clientsIn: (account: string | undefined) => Promise<DetectClients>,
  config: DetectSettings,
  request: DetectRequest,
  identify: Identify = requesterOfInput,
): Promise<RotationState> {
  const parsed = ExecutionInput.safeParse(request.input);
  if (!parsed.success) throw new InvalidInputError(`invalid execution input: ${describeIssues(parsed.error)}`);
  const input = parsed.data;
  // An unverified requester changes nothing either: no call is made for it but the replay to STS.
  const requestedBy = await identify(input, request);
  // Only valid input picks the account: a member account's role is assumed after this line.
  const clients = await clientsIn(input.account);
  try {
    return await detectValid(clients, input.account ? await clientsIn(undefined) : clients, config, request, {
      ...input,
      requestedBy,
    });
  } catch (error) {
    throw asMisconfigured(error);
  }
}

async function detectValid(
  clients: DetectClients,
  central: DetectClients,
  config: DetectSettings,
  request: DetectRequest,
  input: ExecutionInput & { requestedBy: string },
): Promise<RotationState> {
  const { iam } = clients;
  const asOf = input.asOf ?? request.startedAt;
  const secretId = `${config.secretPrefix}${input.userName}`;

  let userArn: string;
  let userPath: string;
  let tags: Tag[];
  try {
    // GetUser answers with the user's tags too (at most 50, never paged): no ListUserTags.
    const user = await iam.send(new GetUserCommand({ UserName: input.userName }));
    // IAM always names the user it found: an answer without one did not come from IAM.
    if (!user.User?.Arn) {
      throw new MisconfiguredError(
        `${endpointName()} did not answer as AWS does (GetUser returned no user): check the region and AWS_ENDPOINT_URL; nothing was changed`,
      );
    }
    userArn = user.User.Arn;
    userPath = user.User.Path ?? '/';
    tags = user.User.Tags ?? [];
  } catch (error) {
    if (isNoSuchEntity(error)) throw new UserNotFoundError(`IAM user ${input.userName} does not exist`);
    throw error;
  }

  const exemption = tags.find((tag) => tag.Key === config.exemptTag);

  const keys: KeySummary[] = [];
  for (const key of await listKeys(iam, input.userName)) {
    const lastUsed = await iam.send(new GetAccessKeyLastUsedCommand({ AccessKeyId: key.AccessKeyId }));
    const created = key.CreateDate ?? new Date(0);
    keys.push({
      keyId: key.AccessKeyId ?? '',
      status: key.Status ?? 'Inactive',
      createdAt: created.toISOString(),
      ageDays: Math.floor((Date.parse(asOf) - created.getTime()) / DAY_MS),
      lastUsedAt: lastUsed.AccessKeyLastUsed?.LastUsedDate?.toISOString() ?? null,
    });
  }

  const checks: Check[] = [];
  let secret: Awaited<ReturnType<typeof checkSecret>> | undefined;
  let verdict = decide(keys, {
    maxAgeDays: input.config.maxAgeDays,
    force: input.force,
    exemption: exemption ? (exemption.Value ?? 'no reason given') : undefined,
  });
  const unmanaged = notManaged(input.userName, userPath, tags, config);
  checks.push({ check: 'managed user', ok: !unmanaged, detail: unmanaged ?? `${input.userName} is managed` });
  if (unmanaged) verdict = { decision: 'NOT_MANAGED', reason: `${unmanaged}; nothing was changed`, oldKeyId: null };

  if (verdict.decision === 'ROTATE' && verdict.oldKeyId) {
    secret = await checkSecret(clients, secretId, verdict.oldKeyId, tags, input.onboard);
    checks.push(secret.check);
    if (secret.decision) {
      verdict = { decision: secret.decision, reason: `${secret.check.detail}; nothing was changed`, oldKeyId: null };
    } else {
      checks.push(...(await checkSettings(central, config, input.config)));
    }
  }
  const { decision, reason, oldKeyId } = verdict;
  logger.info('detected', { userName: input.userName, decision, reason, keyIds: keys.map((k) => k.keyId) });

  return {
    executionId: request.executionId,
    startedAt: request.startedAt,
    userName: input.userName,
    ...(input.account ? { account: input.account } : {}),
    userArn,
    requestedBy: input.requestedBy,
    asOf,
    force: input.force,
    ...(input.onboard ? { onboard: true } : {}),
    secretId,
    config: input.config,
    detection: {
      decision,
      reason,
      oldKeyId,
      keys,
      ...(secret?.format ? { secretFormat: secret.format } : {}),
      ...(secret?.version ?? {}),
      checks,
    },
  };
}

/** Why a user is outside the managed path or tag (the scope the deployed roles reach), if it is. */
function notManaged(userName: string, path: string, tags: Tag[], config: DetectSettings): string | undefined {
  const scope = `/${(config.userPath ?? '/').replace(/^\/+|\/+$/g, '')}/`.replace('//', '/');
  if (!path.startsWith(scope)) return `${userName} (path ${path}) is outside the managed path ${scope}`;
  if (config.userTag && tags.find((tag) => tag.Key === config.userTag)?.Value !== 'true') {
    return `${userName} is not tagged ${config.userTag}=true, so keyrot does not manage it`;
  }
  return undefined;
}

/**
 * The secret precondition: it exists (or is onboarded), its shape is one keyrot reads, and its
 * AWSCURRENT holds the active key. The detail names the secret and key ids, never the secret.
 */
async function checkSecret(
  { secrets }: DetectClients,
  secretId: string,
  activeKeyId: string,
  userTags: Tag[],
  onboard: boolean,
): Promise<{
  check: Check;
  format?: SecretFormat;
  decision?: Decision;
  version?: { secretVersionId: string; secretOtherFields: boolean };
}> {
  if (!secrets) throw new MisconfiguredError('Detect has no Secrets Manager client');
  const fail = (decision: Decision, detail: string, format?: SecretFormat) => ({
    check: { check: 'secret', ok: false, detail },
    decision,
    ...(format ? { format } : {}),
  });
  const region = await secrets.config.region();
  let described;
  try {
    described = await secrets.send(new DescribeSecretCommand({ SecretId: secretId }));
  } catch (error) {
    if ((error as Error).name !== 'ResourceNotFoundException') throw error;
  }
  const tagged =
    described?.Tags?.find((tag) => tag.Key === SECRET_FORMAT_TAG)?.Value ??
    userTags.find((tag) => tag.Key === SECRET_FORMAT_TAG)?.Value;
  if (tagged !== undefined && !isSecretFormat(tagged)) {
    return fail('SECRET_FORMAT', `the tag ${SECRET_FORMAT_TAG}=${tagged.slice(0, 40)} names no format keyrot knows`);
  }
  const hasCurrent = Object.values(described?.VersionIdsToStages ?? {}).some((stages) => stages.includes('AWSCURRENT'));
  if (!described || !hasCurrent) {
    const what = described
      ? `secret ${secretId} has no AWSCURRENT version`
      : `secret ${secretId} does not exist in ${region}`;
    if (onboard) {
      const format = tagged ?? DEFAULT_SECRET_FORMAT;
      return {
        check: { check: 'secret', ok: true, detail: `${what}; onboarding stores the new key there (${format})` },
        format,
      };
    }
    return fail(
      'SECRET_MISSING',
      `${what}, so no consumer reads the active key ${activeKeyId} from it: store it there first, onboard with keyrot rotate <user> --onboard, or check the region (--region, AWS_REGION) if the secret lives in another`,
    );
  }
  const value = await secrets.send(new GetSecretValueCommand({ SecretId: secretId, VersionStage: 'AWSCURRENT' }));
  const parsed = parseSecret(value.SecretString, tagged);
  if (isProblem(parsed)) return fail('SECRET_FORMAT', `secret ${secretId} (AWSCURRENT) ${parsed.problem}`);
  if (parsed.accessKeyId !== activeKeyId) {
    return fail(
      'SECRET_MISMATCH',
      `secret ${secretId} (AWSCURRENT) holds key ${parsed.accessKeyId}, not the user's active key ${activeKeyId}: a consumer may use a key keyrot would retire`,
      parsed.format,
    );
  }
  return {
    check: { check: 'secret', ok: true, detail: `secret ${secretId} holds ${activeKeyId} (${parsed.format})` },
    format: parsed.format,
    ...(value.VersionId
      ? { version: { secretVersionId: value.VersionId, secretOtherFields: Object.keys(parsed.fields).length > 2 } }
      : {}),
  };
}

/** Error names that mean a configured resource is missing, or that this role may not read it. */
const MISSING_OR_FORBIDDEN = new Set([
  'NotFound',
  'NotFoundException',
  'ResourceNotFoundException',
  'InvalidParameter',
  'InvalidParameterException',
  'ValidationException',
  'AuthorizationError',
  'AccessDenied',
  'AccessDeniedException',
  'UnrecognizedClientException',
  'InvalidClientTokenId',
]);

/**
 * When each setting's resource last answered a probe in this process (a Lambda container, a
 * CLI run), by endpoint and resource. They belong to the deployment, not to a rotation: a
 * container that has seen one answer lets the rotations it runs for the next minutes rely on
 * that answer. A failed probe is never remembered, and a resource deleted within those
 * minutes fails its step later, in the rollback's reach.
 */
const answered = new Map<string, number>();
const PROBE_FRESH_MS = 10 * 60_000;

/**
 * Read-only calls to every resource the rotation will need (topic; approvals table, link key
 * and approver pool when a gate is on), so a missing one stops it here rather than after a key
 * exists; one that answered within the last minutes is not asked again (`answered`).
 */
async function checkSettings(
  { secrets, sns, ddb, cognito }: DetectClients,
  config: DetectSettings,
  rotation: ExecutionInput['config'],
): Promise<Check[]> {
  const checks: Check[] = [];
  const probe = async (check: string, what: string, call: () => Promise<unknown>) => {
    const where = `${endpointName()} ${what}`;
    const since = answered.get(where);
    if (since !== undefined && Date.now() - since < PROBE_FRESH_MS) {
      checks.push({ check, ok: true, detail: `${what} answered at ${new Date(since).toISOString()}` });
      return;
    }
    try {
      await call();
      answered.set(where, Date.now());
    } catch (error) {
      const name = (error as Error).name;
      // Only "it is not there, or not ours to read" is a misconfiguration; throttling, a dying
      // Lambda or an unreachable endpoint leave as they are, for the state machine to retry.
      if (!MISSING_OR_FORBIDDEN.has(name)) throw asMisconfigured(error);
      const region = process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION;
      throw new MisconfiguredError(
        `${what} cannot be read${region ? ` in region ${region}` : ''} (${name}): ${short(error)}; ` +
          'nothing was changed (check the region and the setting)',
      );
    }
    checks.push({ check, ok: true, detail: `${what} answers` });
  };
  if (config.topicArn && sns) {
    const topicArn = config.topicArn;
    await probe('notification topic', `notification topic ${topicArn}`, () =>
      sns.send(new GetTopicAttributesCommand({ TopicArn: topicArn })),
    );
  }
  if (rotation.approveRotation || rotation.approveDeletion) {
    const { approvalsTable, linkKeySecret } = config;
    if (!approvalsTable || !linkKeySecret) {
      throw new MisconfiguredError(
        `an approval gate is on but ${!approvalsTable ? 'KEYROT_APPROVALS_TABLE' : 'KEYROT_LINK_KEY_SECRET'} is not set; nothing was changed`,
      );
    }
    if (ddb) {
      await probe('approvals table', `approvals table ${approvalsTable}`, () =>
        ddb.send(new DescribeTableCommand({ TableName: approvalsTable })),
      );
    }
    if (secrets) {
      await probe('approval link key', `approval link key ${linkKeySecret}`, () =>
        secrets.send(new DescribeSecretCommand({ SecretId: linkKeySecret })),
      );
    }
    // Approvers sign through the pool's app client: without it no approval could ever be signed.
    const { approverPoolId, approverClientId } = config;
    if (!approverPoolId || !approverClientId) {
      throw new MisconfiguredError(
        `an approval gate is on but ${!approverPoolId ? 'KEYROT_APPROVER_POOL_ID' : 'KEYROT_APPROVER_CLIENT_ID'} is not set; nothing was changed`,
      );
    }
    if (cognito) {
      await probe('approver pool', `approver pool ${approverPoolId} (app client ${approverClientId})`, () =>
        cognito.send(new DescribeUserPoolClientCommand({ UserPoolId: approverPoolId, ClientId: approverClientId })),
      );
    }
  }
  return checks;
}

/**
 * An endpoint that does not answer as AWS does (a wrong region or AWS_ENDPOINT_URL giving an
 * HTML page) makes the SDK throw a parser error ("Unexpected token '<'"): say so in one line.
 */
function asMisconfigured(error: unknown): unknown {
  if (!(error instanceof Error) || error instanceof MisconfiguredError) return error;
  const raw = error as { $fault?: string; $response?: unknown; $responseBodyText?: unknown };
  const unparsable =
    error.name === 'SyntaxError' ||
    /Unexpected token|Deserialization error|not valid JSON|Expected closing tag|Invalid character/i.test(error.message);
  if (!unparsable || raw.$fault !== undefined) return error;
  const where = endpointName();
  return new MisconfiguredError(
    `${where} did not answer as AWS does (${short(error)}): check the region and AWS_ENDPOINT_URL; nothing was changed`,
  );
}

/** Where the SDK sends requests: the endpoint override, else the region. */
function endpointName(): string {
  return process.env.AWS_ENDPOINT_URL
    ? `the endpoint ${process.env.AWS_ENDPOINT_URL}`
    : `region ${process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION ?? '(unset)'}`;
}

const short = (error: unknown) =>
  String((error as Error).message ?? error)
    .split('\n')[0]
    ?.slice(0, 120) ?? '';

/** The rotation decision for a user's keys. Pure, so every boundary is unit-tested. */
export function decide(
  keys: KeySummary[],
  rules: { maxAgeDays: number; force: boolean; exemption: string | undefined },
): { decision: Decision; reason: string; oldKeyId: string | null } {
  if (rules.exemption !== undefined) {
    return { decision: 'EXEMPT', reason: `user is exempt: ${rules.exemption}`, oldKeyId: null };
  }
  const active = keys.filter((key) => key.status === 'Active');
  if (keys.length >= 2) {
    const listed = keys.map((key) => `${key.keyId} (${key.status})`).join(', ');
    const why =
      active.length === 2
        ? 'two active keys: a human must decide which one is in use'
        : 'two keys exist, so IAM has no room for a new one: delete the unused key first';
    return { decision: 'BLOCKED', reason: `${why}; keys: ${listed}; nothing was changed`, oldKeyId: null };
  }
  const [key] = active;
  if (!key) {
    const reason = keys.length === 0 ? 'user has no access key' : 'user has no active access key';
    return { decision: 'NO_KEY', reason, oldKeyId: null };
  }
  if (rules.force) return { decision: 'ROTATE', reason: `forced rotation of ${key.keyId}`, oldKeyId: key.keyId };
  if (key.ageDays >= rules.maxAgeDays) {
    return {
      decision: 'ROTATE',
      reason: `${key.keyId} is ${key.ageDays} days old (maximum ${rules.maxAgeDays})`,
      oldKeyId: key.keyId,
    };
  }
  return {
    decision: 'NOT_DUE',
    reason: `${key.keyId} is ${key.ageDays} days old; due at ${rules.maxAgeDays}`,
    oldKeyId: key.keyId,
  };
}
