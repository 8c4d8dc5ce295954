import assert from 'node:assert/strict';
import { beforeEach, describe, it } from '@jest/globals';
import { GetAccessKeyLastUsedCommand, IAMClient, ListAccessKeysCommand } from '@aws-sdk/client-iam';
import {
  DescribeSecretCommand,
  GetSecretValueCommand,
  InvalidParameterException,
  ResourceNotFoundException,
  SecretsManagerClient,
  UpdateSecretVersionStageCommand,
} from '@aws-sdk/client-secrets-manager';
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { mockClient } from 'aws-sdk-client-mock';
import { distributeKey } from '../../handlers/domain/distribute';
import { checkKeyUsed, confirmOldKeyRefused, verifyNewKey } from '../../handlers/domain/verify';
import { createdState, NEW_KEY, OLD_KEY, secretValue } from '../support/fixtures';

const secrets = mockClient(SecretsManagerClient);
const sns = mockClient(SNSClient);
const iam = mockClient(IAMClient);
const sts = mockClient(STSClient);
const clients = {
  secrets: secrets as unknown as SecretsManagerClient,
  sns: sns as unknown as SNSClient,
  iam: iam as unknown as IAMClient,
  stsFor: () => new STSClient({}),
};
const refused = (name: string) => Object.assign(new Error(name), { name });

beforeEach(() => {
  for (const mock of [secrets, sns, iam, sts]) mock.reset();
});

describe('distributeKey', () => {
  const lastUsed = (state = createdState()) => ({
    ...state,
    config: { ...state.config, validationMode: 'last-used' as const },
  });
  const seen = (from: string | null) => {
    const state = createdState();
    return { ...state, created: { ...state.created, replacesVersionId: from } };
  };

  it('moves AWSCURRENT from the version Create Access Key saw, without reading the stages, and keeps AWSPENDING', async () => {
    const result = await distributeKey(clients, { topicArn: 'arn:topic' }, seen('version-old'));

    const moves = secrets.commandCalls(UpdateSecretVersionStageCommand).map((call) => call.args[0].input);
    assert.deepEqual(moves, [
      {
        SecretId: 'keyrot/alice',
        VersionStage: 'AWSCURRENT',
        MoveToVersionId: 'version-new',
        RemoveFromVersionId: 'version-old',
      },
    ]);
    assert.equal(secrets.commandCalls(DescribeSecretCommand).length, 0);
    assert.equal(result.previousVersionId, 'version-old');
  });

  it('reads the stages when AWSCURRENT is no longer where Create Access Key saw it (a retry after the move)', async () => {
    secrets
      .on(UpdateSecretVersionStageCommand)
      .rejects(new InvalidParameterException({ message: 'AWSCURRENT not found in version-old', $metadata: {} }));
    secrets.on(DescribeSecretCommand).resolves({
      VersionIdsToStages: { 'version-old': ['AWSPREVIOUS'], 'version-new': ['AWSCURRENT', 'AWSPENDING'] },
    });

    const result = await distributeKey(clients, { topicArn: 'arn:topic' }, seen('version-old'));

    assert.equal(
      secrets.commandCalls(UpdateSecretVersionStageCommand).length,
      1,
      'already current: nothing more to move',
    );
    assert.equal(result.previousVersionId, 'version-old');
  });

  it('moves AWSCURRENT from wherever it is when Create Access Key saw no version (an older execution)', async () => {
    secrets.on(DescribeSecretCommand).resolves({
      VersionIdsToStages: { 'version-old': ['AWSCURRENT'], 'version-new': ['AWSPENDING'] },
    });

    const result = await distributeKey(clients, { topicArn: 'arn:topic' }, createdState());

    const [move] = secrets.commandCalls(UpdateSecretVersionStageCommand).map((call) => call.args[0].input);
    assert.equal(move?.RemoveFromVersionId, 'version-old');
    assert.equal(result.previousVersionId, 'version-old');
  });

  it('tells the owner with key ids only in last-used mode, where the rotation waits for their consumer', async () => {
    const quiet = await distributeKey(clients, { topicArn: 'arn:topic' }, seen('version-old'));
    assert.equal(sns.commandCalls(PublishCommand).length, 0, 'validation none: the result tells them');
    assert.equal(quiet.notified, false);

    const told = await distributeKey(clients, { topicArn: 'arn:topic' }, lastUsed(seen('version-old')));

    assert.equal(told.notified, true);
    assert.match(sns.commandCalls(PublishCommand)[0]?.args[0].input.Message ?? '', new RegExp(NEW_KEY));
  });

  it('records a failed notification without failing the rotation', async () => {
    secrets.on(DescribeSecretCommand).resolves({ VersionIdsToStages: { 'version-new': ['AWSCURRENT'] } });
    sns.on(PublishCommand).rejects(refused('AuthorizationErrorException'));

    const result = await distributeKey(clients, { topicArn: 'arn:topic' }, lastUsed());

    assert.equal(result.notified, false);
    assert.equal(result.notifyError, 'AuthorizationErrorException');
    assert.equal(secrets.commandCalls(UpdateSecretVersionStageCommand).length, 0, 'already current: nothing to move');
  });
});

describe('verifyNewKey', () => {
  it('accepts the new key when STS names the user', async () => {
    secrets.on(GetSecretValueCommand).resolves(secretValue(NEW_KEY));
    sts.on(GetCallerIdentityCommand).resolves({ Arn: 'arn:aws:iam::123456789012:user/alice' });

    const result = await verifyNewKey(clients, createdState());

    assert.equal(result.keyId, NEW_KEY);
  });

  it('reports a refused key that IAM still lists as NewKeyNotValid, so the state machine retries it', async () => {
    secrets.on(GetSecretValueCommand).resolves(secretValue(NEW_KEY));
    sts.on(GetCallerIdentityCommand).rejects(refused('InvalidClientTokenId'));
    iam.on(ListAccessKeysCommand).resolves({ AccessKeyMetadata: [{ AccessKeyId: OLD_KEY }, { AccessKeyId: NEW_KEY }] });

    await assert.rejects(verifyNewKey(clients, createdState()), { name: 'NewKeyNotValid' });
  });

  it('reports a refused key that IAM no longer lists as KeyMissing: no point waiting for it', async () => {
    secrets.on(GetSecretValueCommand).resolves(secretValue(NEW_KEY));
    sts.on(GetCallerIdentityCommand).rejects(refused('InvalidClientTokenId'));
    iam.on(ListAccessKeysCommand).resolves({ AccessKeyMetadata: [{ AccessKeyId: OLD_KEY }] });

    await assert.rejects(verifyNewKey(clients, createdState()), {
      name: 'KeyMissing',
      message: `new key ${NEW_KEY} no longer exists: it was deleted outside keyrot`,
    });
  });

  it('refuses a key that authenticates as somebody else', async () => {
    secrets.on(GetSecretValueCommand).resolves(secretValue(NEW_KEY));
    sts.on(GetCallerIdentityCommand).resolves({ Arn: 'arn:aws:iam::123456789012:user/mallory' });

    await assert.rejects(verifyNewKey(clients, createdState()), { name: 'WrongIdentity' });
  });

  it('refuses when AWSCURRENT does not hold the new key', async () => {
    secrets.on(GetSecretValueCommand).resolves(secretValue(OLD_KEY));

    await assert.rejects(verifyNewKey(clients, createdState()), { name: 'SecretMismatch' });
    assert.equal(sts.calls().length, 0);
  });
});

describe('checkKeyUsed', () => {
  const state = { ...createdState(), distributed: { distributedAt: '2026-11-22T10:00:00.000Z' } };

  it('reports the new key as used once it has a last-used date', async () => {
    iam.on(GetAccessKeyLastUsedCommand).resolves({
      AccessKeyLastUsed: { LastUsedDate: new Date('2026-11-22T10:05:00Z'), ServiceName: 's3', Region: 'eu-west-1' },
    });

    const result = await checkKeyUsed(clients, state, new Date('2026-11-22T10:06:00Z'));

    assert.equal(result.used, true);
  });

  it('keeps waiting before the deadline and gives up after it', async () => {
    iam.on(GetAccessKeyLastUsedCommand).resolves({ AccessKeyLastUsed: { ServiceName: 'N/A', Region: 'N/A' } });

    assert.equal((await checkKeyUsed(clients, state, new Date('2026-11-23T09:59:59Z'))).used, false);
    await assert.rejects(checkKeyUsed(clients, state, new Date('2026-11-23T10:00:01Z')), { name: 'ValidationTimeout' });
  });
});

describe('confirmOldKeyRefused', () => {
  it('confirms the deleted key is refused, naming the error', async () => {
    secrets.on(GetSecretValueCommand, { VersionStage: 'AWSPREVIOUS' }).resolves(secretValue(OLD_KEY));
    sts.on(GetCallerIdentityCommand).rejects(refused('InvalidClientTokenId'));

    assert.deepEqual(await confirmOldKeyRefused(clients, createdState()), {
      keyId: OLD_KEY,
      refusedWith: 'InvalidClientTokenId',
    });
  });

  it('raises OldKeyStillAccepted while the deleted key still works', async () => {
    secrets.on(GetSecretValueCommand, { VersionStage: 'AWSPREVIOUS' }).resolves(secretValue(OLD_KEY));
    sts.on(GetCallerIdentityCommand).resolves({ Arn: 'arn:aws:iam::123456789012:user/alice' });

    await assert.rejects(confirmOldKeyRefused(clients, createdState()), { name: 'OldKeyStillAccepted' });
  });

  it('says the endpoint checks no signatures when the deleted key is accepted as someone else', async () => {
    secrets.on(GetSecretValueCommand, { VersionStage: 'AWSPREVIOUS' }).resolves(secretValue(OLD_KEY));
    sts.on(GetCallerIdentityCommand).resolves({ Arn: 'arn:aws:sts::123456789012:user/moto' });

    await assert.rejects(confirmOldKeyRefused(clients, createdState()), {
      name: 'OldKeyStillAccepted',
      message: /still authenticates as arn:aws:sts::123456789012:user\/moto: the endpoint does not check signatures/,
    });
  });

  it('says so when the secret never held the old key', async () => {
    secrets
      .on(GetSecretValueCommand)
      .rejects(new ResourceNotFoundException({ message: 'no AWSPREVIOUS', $metadata: {} }));

    const result = await confirmOldKeyRefused(clients, createdState());

    assert.equal(result.refusedWith, null);
    assert.match(result.note ?? '', /not provable/);
  });
});
