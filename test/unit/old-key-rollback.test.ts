import assert from 'node:assert/strict';
import { beforeEach, describe, it } from 'node:test';
import {
  DeleteAccessKeyCommand,
  GetAccessKeyLastUsedCommand,
  IAMClient,
  ListAccessKeysCommand,
  UpdateAccessKeyCommand,
} from '@aws-sdk/client-iam';
import {
  DeleteSecretCommand,
  DescribeSecretCommand,
  GetSecretValueCommand,
  SecretsManagerClient,
  UpdateSecretVersionStageCommand,
} from '@aws-sdk/client-secrets-manager';
import { SNSClient } from '@aws-sdk/client-sns';
import { mockClient } from 'aws-sdk-client-mock';
import { signatureDigest } from '../../handlers/domain/approvals';
import { deactivateOldKey, deleteOldKey } from '../../handlers/domain/old-key';
import { rollback } from '../../handlers/domain/rollback';
import { versionIdFor } from '../../handlers/domain/secret';
import type { Signature } from '../../handlers/shared/schemas';
import { createdState, EXECUTION, NEW_KEY, OLD_KEY, secretValue } from '../support/fixtures';

const iam = mockClient(IAMClient);
const secrets = mockClient(SecretsManagerClient);
const sns = mockClient(SNSClient);
const clients = {
  iam: iam as unknown as IAMClient,
  secrets: secrets as unknown as SecretsManagerClient,
  sns: sns as unknown as SNSClient,
};
const started = new Date('2026-11-22T10:00:00Z');
/** Distribute Key's result, which Deactivate judges the old key's last use against. */
const DISTRIBUTED = { distributedAt: '2026-11-22T10:00:02.000Z' };
const keyMeta = (id: string, status: 'Active' | 'Inactive', created: Date) => ({
  AccessKeyId: id,
  Status: status,
  CreateDate: created,
});

function approval(meaning: Signature['meaning'] = 'APPROVED'): Signature {
  const fields = {
    approvalId: 'a'.repeat(32),
    executionId: EXECUTION,
    state: 'Approve Deletion' as const,
    user: 'alice',
    keyIds: [OLD_KEY, NEW_KEY],
    signer: 'Quinn Avery (QA Lead)',
    signerId: 'quality-approver',
    meaning,
    reason: 'CR-1042',
    signedAt: '2026-11-22T10:01:00.000Z',
  };
  return { ...fields, digest: signatureDigest(fields) };
}

beforeEach(() => {
  for (const mock of [iam, secrets, sns]) mock.reset();
  secrets.on(GetSecretValueCommand, { VersionStage: 'AWSCURRENT' }).resolves(secretValue(NEW_KEY));
  iam
    .on(GetAccessKeyLastUsedCommand)
    .resolves({ AccessKeyLastUsed: { LastUsedDate: started, Region: 'us-east-1', ServiceName: 'sts' } });
  iam.on(ListAccessKeysCommand).resolves({
    AccessKeyMetadata: [
      keyMeta(OLD_KEY, 'Active', new Date('2026-01-01Z')),
      keyMeta(NEW_KEY, 'Active', new Date(started.getTime() + 1000)),
    ],
  });
});

describe('deactivateOldKey and deleteOldKey', () => {
  it('refuses to deactivate without a recorded approval while the gate is on', async () => {
    await assert.rejects(deactivateOldKey(clients, { ...createdState(), distributed: DISTRIBUTED }), {
      name: 'InvalidApproval',
    });
    await assert.rejects(
      deactivateOldKey(clients, {
        ...createdState(),
        distributed: DISTRIBUTED,
        deletionApproval: approval('REJECTED'),
      }),
      {
        name: 'InvalidApproval',
      },
    );
    assert.equal(iam.commandCalls(UpdateAccessKeyCommand).length, 0);
  });

  it('refuses an approval signed for another execution, even with its digest recomputed', async () => {
    const { digest: _digest, ...fields } = approval();
    const moved = { ...fields, executionId: 'arn:other' };
    const copied = { ...moved, digest: signatureDigest(moved) };

    await assert.rejects(
      deactivateOldKey(clients, { ...createdState(), distributed: DISTRIBUTED, deletionApproval: copied }),
      {
        name: 'InvalidApproval',
        message: /signed for another execution/,
      },
    );
  });

  it('refuses an approval whose fields were edited after signing', async () => {
    const edited = { ...approval(), reason: 'changed later' };

    await assert.rejects(
      deactivateOldKey(clients, { ...createdState(), distributed: DISTRIBUTED, deletionApproval: edited }),
      {
        message: /digest does not match/,
      },
    );
  });

  it('deactivates the old key with an approval and the new key current', async () => {
    await deactivateOldKey(clients, { ...createdState(), distributed: DISTRIBUTED, deletionApproval: approval() });

    assert.deepEqual(iam.commandCalls(UpdateAccessKeyCommand)[0]?.args[0].input, {
      UserName: 'alice',
      AccessKeyId: OLD_KEY,
      Status: 'Inactive',
    });
  });

  it('refuses to deactivate while AWSCURRENT still holds the old key', async () => {
    secrets.on(GetSecretValueCommand, { VersionStage: 'AWSCURRENT' }).resolves(secretValue(OLD_KEY));

    await assert.rejects(
      deactivateOldKey(clients, { ...createdState(), distributed: DISTRIBUTED, deletionApproval: approval() }),
      {
        name: 'SecretMismatch',
      },
    );
  });

  it('does not delete an old key someone re-activated during the grace period', async () => {
    await assert.rejects(deleteOldKey(clients, { ...createdState(), deletionApproval: approval() }), {
      name: 'KeyMissing',
    });
    assert.equal(iam.commandCalls(DeleteAccessKeyCommand).length, 0);
  });

  it('treats an old key that is already gone as deleted', async () => {
    iam.on(ListAccessKeysCommand).resolves({ AccessKeyMetadata: [keyMeta(NEW_KEY, 'Active', started)] });

    const result = await deleteOldKey(clients, { ...createdState(), deletionApproval: approval() });

    assert.equal(result.deleted, true);
    assert.equal(iam.commandCalls(DeleteAccessKeyCommand).length, 0);
  });
});

describe('rollback', () => {
  const ours = versionIdFor(EXECUTION);
  const failure = {
    Error: 'NewKeyNotValid',
    Cause: JSON.stringify({ errorType: 'NewKeyNotValid', errorMessage: 'STS refused' }),
  };

  it('re-activates the old key, moves AWSCURRENT back and deletes the new key', async () => {
    iam.on(ListAccessKeysCommand).resolves({
      AccessKeyMetadata: [
        keyMeta(OLD_KEY, 'Inactive', new Date('2026-01-01Z')),
        keyMeta(NEW_KEY, 'Active', new Date(started.getTime() + 1000)),
      ],
    });
    secrets
      .on(DescribeSecretCommand)
      .resolves({ VersionIdsToStages: { 'version-old': ['AWSPREVIOUS'], [ours]: ['AWSCURRENT'] }, Tags: [] });
    secrets.on(GetSecretValueCommand, { VersionId: 'version-old' }).resolves(secretValue(OLD_KEY));

    const result = await rollback(clients, { topicArn: undefined }, { ...createdState(), failure });

    assert.equal(result.outcome, 'ROLLED_BACK');
    assert.equal(result.cause, 'NewKeyNotValid: STS refused');
    assert.deepEqual(result.actions, [
      `re-activated ${OLD_KEY}`,
      `secret AWSCURRENT back to ${OLD_KEY}`,
      `deleted new key ${NEW_KEY}`,
    ]);
  });

  it('does nothing the second time: it works from what exists', async () => {
    iam
      .on(ListAccessKeysCommand)
      .resolves({ AccessKeyMetadata: [keyMeta(OLD_KEY, 'Active', new Date('2026-01-01Z'))] });
    secrets
      .on(DescribeSecretCommand)
      .resolves({ VersionIdsToStages: { 'version-old': ['AWSCURRENT'], [ours]: ['AWSPREVIOUS'] }, Tags: [] });

    const result = await rollback(clients, { topicArn: undefined }, { ...createdState(), failure });

    assert.equal(result.outcome, 'ROLLED_BACK');
    assert.deepEqual(result.actions, []);
    assert.equal(
      iam.commandCalls(DeleteAccessKeyCommand).length + secrets.commandCalls(UpdateSecretVersionStageCommand).length,
      0,
    );
  });

  it('deletes a secret this execution created, since there is nothing to go back to', async () => {
    secrets.on(DescribeSecretCommand).resolves({
      VersionIdsToStages: { [ours]: ['AWSCURRENT'] },
      Tags: [{ Key: 'keyrot:created-by', Value: EXECUTION }],
    });

    const result = await rollback(clients, { topicArn: undefined }, { ...createdState(), failure });

    assert.equal(secrets.commandCalls(DeleteSecretCommand).length, 1);
    assert.equal(result.outcome, 'ROLLED_BACK');
  });

  it('keeps the new key and reports ROLLBACK_FAILED when the old key is already deleted', async () => {
    iam.on(ListAccessKeysCommand).resolves({ AccessKeyMetadata: [keyMeta(NEW_KEY, 'Active', started)] });
    secrets.on(DescribeSecretCommand).resolves({ VersionIdsToStages: { [ours]: ['AWSCURRENT'] }, Tags: [] });

    const result = await rollback(clients, { topicArn: undefined }, { ...createdState(), failure });

    assert.equal(result.outcome, 'ROLLBACK_FAILED');
    assert.match(result.cause, new RegExp(`old key ${OLD_KEY} no longer exists.*new key ${NEW_KEY} is kept`));
    assert.equal(iam.commandCalls(DeleteAccessKeyCommand).length, 0);
  });
});
