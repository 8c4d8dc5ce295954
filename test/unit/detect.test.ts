import assert from 'node:assert/strict';
import { describe, it } from '@jest/globals';
import {
  GetAccessKeyLastUsedCommand,
  GetUserCommand,
  IAMClient,
  ListAccessKeysCommand,
  ListUserTagsCommand,
} from '@aws-sdk/client-iam';
import { DescribeSecretCommand, GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { GetTopicAttributesCommand, SNSClient } from '@aws-sdk/client-sns';
import { mockClient } from 'aws-sdk-client-mock';
import { decide, detectKeys } from '../../handlers/domain/detect';
import type { KeySummary } from '../../handlers/shared/schemas';

const key = (ageDays: number, status: KeySummary['status'] = 'Active', keyId = 'AKIAOLDKEY000000001'): KeySummary => ({
  keyId,
  status,
  ageDays,
  createdAt: '2026-01-01T00:00:00.000Z',
  lastUsedAt: null,
});
const rules = { maxAgeDays: 90, force: false, exemption: undefined };

/** The requester, as Detect would have verified it from the start's signed proof (requester.test.ts tests that). */
const asOperator = async () => 'arn:aws:iam::123456789012:user/ops';

describe('decide', () => {
  for (const [age, expected] of [
    [89, 'NOT_DUE'],
    [90, 'ROTATE'],
    [91, 'ROTATE'],
  ] as const) {
    it(`decides ${expected} for a ${age}-day-old key when the maximum is 90`, () => {
      assert.equal(decide([key(age)], rules).decision, expected);
    });
  }

  it('rotates a young key when forced', () => {
    assert.equal(decide([key(1)], { ...rules, force: true }).decision, 'ROTATE');
  });

  it('blocks two active keys and names both, since a human must decide', () => {
    const result = decide([key(100), key(5, 'Active', 'AKIANEWKEY000000002')], rules);
    assert.equal(result.decision, 'BLOCKED');
    assert.match(result.reason, /two active keys.*AKIAOLDKEY000000001 \(Active\), AKIANEWKEY000000002 \(Active\)/);
    assert.equal(result.oldKeyId, null);
  });

  it('blocks an active plus an inactive key, because IAM has no room for a third', () => {
    const result = decide([key(100), key(5, 'Inactive', 'AKIANEWKEY000000002')], rules);
    assert.equal(result.decision, 'BLOCKED');
    assert.match(result.reason, /delete the unused key first/);
  });

  it('reports NO_KEY for a user without keys and for one whose only key is inactive', () => {
    assert.equal(decide([], rules).decision, 'NO_KEY');
    assert.equal(decide([key(100, 'Inactive')], rules).reason, 'user has no active access key');
  });

  it('skips an exempt user whatever the key age, with the tag value as reason', () => {
    const result = decide([key(400)], { ...rules, exemption: 'break-glass account, CR-7' });
    assert.deepEqual(result, {
      decision: 'EXEMPT',
      reason: 'user is exempt: break-glass account, CR-7',
      oldKeyId: null,
    });
  });
});

describe('detectKeys', () => {
  const config = { secretPrefix: 'keyrot/', exemptTag: 'keyrot:exempt' };
  const request = { executionId: 'arn:exec', startedAt: '2026-11-22T00:00:00.000Z' };

  it('refuses malformed input before calling IAM', async () => {
    const iam = mockClient(IAMClient);

    await assert.rejects(
      detectKeys(async () => ({ iam: iam as unknown as IAMClient }), config, {
        ...request,
        input: { userName: 'a b' },
      }),
      { name: 'InvalidInput', message: /userName may only hold/ },
    );
    assert.equal(iam.calls().length, 0);
  });

  it('names an unknown user as UserNotFound', async () => {
    const iam = mockClient(IAMClient);
    const missing = Object.assign(new Error('no user'), { name: 'NoSuchEntityException' });
    iam.on(GetUserCommand).rejects(missing);

    await assert.rejects(
      detectKeys(
        async () => ({ iam: iam as unknown as IAMClient }),
        config,
        { ...request, input: { userName: 'ghost' } },
        asOperator,
      ),
      { name: 'UserNotFound', message: 'IAM user ghost does not exist' },
    );
  });

  /** A user with one due key whose secret holds it (key-only), and a notification topic. */
  function world(tags: { Key: string; Value: string }[] = []) {
    // Real clients with mocked sends: Detect names the secret's region from its client.
    const clients = {
      iam: new IAMClient({ region: 'us-east-1' }),
      secrets: new SecretsManagerClient({ region: 'us-east-1' }),
      sns: new SNSClient({ region: 'us-east-1' }),
    };
    const iam = mockClient(clients.iam);
    const secrets = mockClient(clients.secrets);
    const sns = mockClient(clients.sns);
    iam.on(GetUserCommand).resolves({
      User: {
        UserName: 'alice',
        UserId: 'AIDA',
        Path: '/',
        Arn: 'arn:aws:iam::123456789012:user/alice',
        CreateDate: new Date(),
        Tags: tags,
      },
    });
    iam.on(ListAccessKeysCommand).resolves({
      AccessKeyMetadata: [
        { AccessKeyId: 'AKIAOLDKEY000000001', Status: 'Active', CreateDate: new Date('2026-01-01T00:00:00Z') },
      ],
    });
    iam.on(GetAccessKeyLastUsedCommand).resolves({});
    secrets.on(DescribeSecretCommand).resolves({ VersionIdsToStages: { 'version-old': ['AWSCURRENT'] } });
    secrets.on(GetSecretValueCommand).resolves({
      VersionId: 'version-old',
      SecretString: JSON.stringify({ accessKeyId: 'AKIAOLDKEY000000001', secretAccessKey: 'not-a-secret' }),
    });
    const run = (topicArn: string) =>
      detectKeys(
        async () => clients,
        { ...config, topicArn },
        {
          ...request,
          input: { userName: 'alice', config: { approveDeletion: false } },
        },
        asOperator,
      );
    return { iam, sns, run };
  }

  it('reads the tags GetUser answers with, not ListUserTags', async () => {
    const { iam, run } = world([{ Key: 'keyrot:exempt', Value: 'break-glass' }]);

    const state = await run('arn:aws:sns:us-east-1:123456789012:tags');

    assert.equal(state.detection.decision, 'EXEMPT');
    assert.equal(iam.commandCalls(ListUserTagsCommand).length, 0);
  });

  it('hands on the AWSCURRENT version it read and whether it holds more than the key', async () => {
    const { run } = world();

    const { detection } = await run('arn:aws:sns:us-east-1:123456789012:versions');

    assert.equal(detection.decision, 'ROTATE');
    assert.equal(detection.secretVersionId, 'version-old');
    assert.equal(detection.secretOtherFields, false);
  });

  it("asks a setting's resource once for the rotations that follow, and again after it failed", async () => {
    const { sns, run } = world();
    const refused = Object.assign(new Error('no topic'), { name: 'NotFoundException' });
    sns.on(GetTopicAttributesCommand, { TopicArn: 'arn:aws:sns:us-east-1:123456789012:gone' }).rejects(refused);

    await run('arn:aws:sns:us-east-1:123456789012:once');
    const second = await run('arn:aws:sns:us-east-1:123456789012:once');
    await assert.rejects(run('arn:aws:sns:us-east-1:123456789012:gone'), { name: 'Misconfigured' });
    await assert.rejects(run('arn:aws:sns:us-east-1:123456789012:gone'), { name: 'Misconfigured' });

    const asked = sns.commandCalls(GetTopicAttributesCommand).map((call) => call.args[0].input.TopicArn);
    assert.deepEqual(asked, [
      'arn:aws:sns:us-east-1:123456789012:once',
      'arn:aws:sns:us-east-1:123456789012:gone',
      'arn:aws:sns:us-east-1:123456789012:gone',
    ]);
    assert.match(second.detection.checks?.find((c) => c.check === 'notification topic')?.detail ?? '', /answered at/);
  });
});
