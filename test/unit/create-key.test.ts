import assert from 'node:assert/strict';
import { beforeEach, describe, it } from '@jest/globals';
import { CreateAccessKeyCommand, DeleteAccessKeyCommand, IAMClient, ListAccessKeysCommand } from '@aws-sdk/client-iam';
import {
  CreateSecretCommand,
  DescribeSecretCommand,
  GetSecretValueCommand,
  PutSecretValueCommand,
  ResourceNotFoundException,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import { createKey } from '../../handlers/domain/create-key';
import { versionIdFor } from '../../handlers/domain/secret';
import { detectedState, EXECUTION, NEW_KEY, OLD_KEY, secretValue } from '../support/fixtures';

const iam = mockClient(IAMClient);
const secrets = mockClient(SecretsManagerClient);
const clients = { iam: iam as unknown as IAMClient, secrets: secrets as unknown as SecretsManagerClient };
const config = { kmsKeyId: undefined };
const SECRET = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';
const createdAnswer = () => ({
  AccessKey: {
    UserName: 'alice',
    AccessKeyId: NEW_KEY,
    SecretAccessKey: SECRET,
    Status: 'Active' as const,
    CreateDate: new Date(),
  },
});
const limitExceeded = () =>
  Object.assign(new Error('Cannot exceed quota for AccessKeysPerUser: 2'), { name: 'LimitExceededException' });
const oldKey = { AccessKeyId: OLD_KEY, Status: 'Active' as const, CreateDate: new Date('2026-01-01T00:00:00Z') };

describe('createKey', () => {
  beforeEach(() => {
    iam.reset();
    secrets.reset();
    iam.on(ListAccessKeysCommand).resolves({ AccessKeyMetadata: [oldKey] });
    iam.on(CreateAccessKeyCommand).resolves(createdAnswer());
    secrets.on(DescribeSecretCommand).resolves({ VersionIdsToStages: { 'version-old': ['AWSCURRENT'] } });
    // The new version is written in the current one's shape, so CreateKey reads it first.
    secrets.on(GetSecretValueCommand).resolves(secretValue(OLD_KEY));
  });

  it('creates the key, stores it as AWSPENDING in the same call and returns only its id', async () => {
    const created = await createKey(clients, config, detectedState());

    assert.equal(created.newKeyId, NEW_KEY);
    assert.equal(JSON.stringify(created).includes(SECRET), false);
    const [put] = secrets.commandCalls(PutSecretValueCommand);
    assert.deepEqual(put?.args[0].input.VersionStages, ['AWSPENDING']);
    assert.equal(put?.args[0].input.ClientRequestToken, versionIdFor(EXECUTION));
    assert.deepEqual(JSON.parse(put?.args[0].input.SecretString ?? ''), {
      accessKeyId: NEW_KEY,
      secretAccessKey: SECRET,
    });
    assert.equal(secrets.commandCalls(CreateSecretCommand).length, 0);
  });

  it('reuses what an earlier attempt of the same execution stored instead of creating a second key', async () => {
    secrets.on(DescribeSecretCommand).resolves({
      VersionIdsToStages: { 'version-old': ['AWSCURRENT'], [versionIdFor(EXECUTION)]: ['AWSPENDING'] },
    });
    secrets.on(GetSecretValueCommand).resolves(secretValue(NEW_KEY));
    iam.on(ListAccessKeysCommand).resolves({
      AccessKeyMetadata: [oldKey, { AccessKeyId: NEW_KEY, Status: 'Active', CreateDate: new Date() }],
    });

    const created = await createKey(clients, config, detectedState());

    assert.equal(created.newKeyId, NEW_KEY);
    assert.equal(iam.commandCalls(CreateAccessKeyCommand).length, 0);
    assert.equal(iam.commandCalls(DeleteAccessKeyCommand).length, 0);
  });

  it('lists no keys on the way: IAM itself refuses a new key beside an orphan', async () => {
    await createKey(clients, config, detectedState());

    assert.equal(iam.commandCalls(ListAccessKeysCommand).length, 0);
  });

  it('deletes an orphan key left by an attempt that died before storing it, then creates one', async () => {
    const orphan = {
      AccessKeyId: 'AKIAORPHAN000000003',
      Status: 'Active' as const,
      CreateDate: new Date('2026-11-22T10:00:00.500Z'),
    };
    iam.on(ListAccessKeysCommand).resolves({ AccessKeyMetadata: [oldKey, orphan] });
    iam.on(CreateAccessKeyCommand).rejectsOnce(limitExceeded()).resolves(createdAnswer());

    await createKey(clients, config, detectedState());

    const deleted = iam.commandCalls(DeleteAccessKeyCommand).map((call) => call.args[0].input.AccessKeyId);
    assert.deepEqual(deleted, ['AKIAORPHAN000000003']);
    assert.equal(iam.commandCalls(CreateAccessKeyCommand).length, 2, 'refused beside the orphan, then created');
    assert.equal(secrets.commandCalls(PutSecretValueCommand).length, 1);
  });

  it('never deletes a key that existed before the execution started, and stops at the limit', async () => {
    const older = {
      AccessKeyId: 'AKIAOTHER0000000004',
      Status: 'Inactive' as const,
      CreateDate: new Date('2026-11-01T00:00:00Z'),
    };
    iam.on(ListAccessKeysCommand).resolves({ AccessKeyMetadata: [oldKey, older] });
    iam.on(CreateAccessKeyCommand).rejects(limitExceeded());

    await assert.rejects(createKey(clients, config, detectedState()), { name: 'LimitExceededException' });

    assert.equal(iam.commandCalls(DeleteAccessKeyCommand).length, 0);
    assert.equal(secrets.commandCalls(PutSecretValueCommand).length, 0);
  });

  it('copies nothing without reading when AWSCURRENT is the version Detect saw holding only the key', async () => {
    const state = detectedState();
    const seen = {
      ...state,
      detection: { ...state.detection, secretVersionId: 'version-old', secretOtherFields: false },
    };

    const created = await createKey(clients, config, seen);

    assert.equal(secrets.commandCalls(GetSecretValueCommand).length, 0);
    assert.equal(created.replacesVersionId, 'version-old');
  });

  it('reads AWSCURRENT again to keep its other fields, or when it moved since Detect', async () => {
    const state = detectedState();
    const withFields = {
      ...state,
      detection: { ...state.detection, secretVersionId: 'version-old', secretOtherFields: true },
    };
    const moved = {
      ...state,
      detection: { ...state.detection, secretVersionId: 'version-older', secretOtherFields: false },
    };

    await createKey(clients, config, withFields);
    await createKey(clients, config, moved);

    assert.equal(secrets.commandCalls(GetSecretValueCommand).length, 2);
  });

  it('creates the secret, tagged with the execution, when the user has none yet', async () => {
    secrets.on(DescribeSecretCommand).rejects(new ResourceNotFoundException({ message: 'none', $metadata: {} }));

    await createKey(clients, config, detectedState());

    const [create] = secrets.commandCalls(CreateSecretCommand);
    assert.equal(create?.args[0].input.Name, 'keyrot/alice');
    assert.deepEqual(create?.args[0].input.Tags?.[1], { Key: 'keyrot:created-by', Value: EXECUTION });
    assert.equal(create?.args[0].input.SecretString, undefined, 'the value goes in as AWSPENDING, not AWSCURRENT');
  });
});
