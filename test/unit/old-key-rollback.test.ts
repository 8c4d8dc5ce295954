import assert from 'node:assert/strict';
import { beforeEach, describe, it } from '@jest/globals';
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
import { KMSClient } from '@aws-sdk/client-kms';
import { SNSClient } from '@aws-sdk/client-sns';
import { mockClient } from 'aws-sdk-client-mock';
import { deactivateOldKey, deleteOldKey } from '../../handlers/domain/old-key';
import { rollback } from '../../handlers/domain/rollback';
import { versionIdFor } from '../../handlers/domain/secret';
import { signManifest } from '../../handlers/domain/signing';
import { canonicalJson, sha256Hex } from '../../handlers/shared/digest';
import type { Signature } from '../../handlers/shared/schemas';
import {
  createdState,
  EXECUTION,
  NEW_KEY,
  OLD_KEY,
  secretValue,
  SIGNING_KEY,
  standInSigningKey,
} from '../support/fixtures';

const iam = mockClient(IAMClient);
const secrets = mockClient(SecretsManagerClient);
const sns = mockClient(SNSClient);
const kms = mockClient(KMSClient);
const clients = {
  iam: iam as unknown as IAMClient,
  secrets: secrets as unknown as SecretsManagerClient,
  sns: sns as unknown as SNSClient,
  kms: kms as unknown as KMSClient,
};
// The destructive steps read the signing key from the settings, as deployed.
process.env.KEYROT_SIGNING_KEY_ID = SIGNING_KEY;
standInSigningKey(kms);
const started = new Date('2026-11-22T10:00:00Z');
/** Distribute Key's result, which Deactivate judges the old key's last use against. */
const DISTRIBUTED = { distributedAt: '2026-11-22T10:00:02.000Z' };
const keyMeta = (id: string, status: 'Active' | 'Inactive', created: Date) => ({
  AccessKeyId: id,
  Status: status,
  CreateDate: created,
});

/** A deletion approval signed by the signing key's stand-in. */
function approval(meaning: Signature['meaning'] = 'APPROVED'): Promise<Signature> {
  return signManifest(
    clients.kms,
    { signingKeyId: SIGNING_KEY },
    {
      approvalId: 'a'.repeat(32),
      executionId: EXECUTION,
      state: 'Approve Deletion' as const,
      user: 'alice',
      keyIds: [OLD_KEY, NEW_KEY],
      signer: 'Quinn Avery (QA Lead)',
      signerId: 'quality-approver',
      signerSub: 'sub-quality-approver',
      meaning,
      reason: 'CR-1042',
      signedAt: '2026-11-22T10:01:00.000Z',
    },
  );
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
        deletionApproval: await approval('REJECTED'),
      }),
      {
        name: 'InvalidApproval',
      },
    );
    assert.equal(iam.commandCalls(UpdateAccessKeyCommand).length, 0);
  });

  it('refuses an approval moved to another execution, even with its digest recomputed: its KMS signature fails', async () => {
    const { digest: _digest, kmsSignature, ...fields } = await approval();
    const moved = { ...fields, executionId: 'arn:other' };
    const copied = { ...moved, digest: sha256Hex(canonicalJson(moved)), kmsSignature };

    await assert.rejects(
      deactivateOldKey(clients, { ...createdState(), distributed: DISTRIBUTED, deletionApproval: copied }),
      { name: 'ForgedSignature', message: /its KMS signature does not verify/ },
    );
    assert.equal(iam.commandCalls(UpdateAccessKeyCommand).length, 0);
  });

  it('refuses a genuine approval of another execution with InvalidApproval', async () => {
    await assert.rejects(
      deactivateOldKey(clients, {
        ...createdState(),
        executionId: 'arn:aws:states:us-east-1:000000000000:execution:Keyrot-Rotation:alice-other',
        distributed: DISTRIBUTED,
        deletionApproval: await approval(),
      }),
      { name: 'InvalidApproval', message: /signed for another execution/ },
    );
  });

  it('refuses an approval whose fields were edited after signing', async () => {
    const edited = { ...(await approval()), reason: 'changed later' };

    await assert.rejects(
      deactivateOldKey(clients, { ...createdState(), distributed: DISTRIBUTED, deletionApproval: edited }),
      { name: 'ForgedSignature', message: /digest does not match/ },
    );
  });

  it('deactivates the old key with an approval and the new key current', async () => {
    await deactivateOldKey(clients, {
      ...createdState(),
      distributed: DISTRIBUTED,
      deletionApproval: await approval(),
    });

    assert.deepEqual(iam.commandCalls(UpdateAccessKeyCommand)[0]?.args[0].input, {
      UserName: 'alice',
      AccessKeyId: OLD_KEY,
      Status: 'Inactive',
    });
  });

  it('refuses to deactivate while AWSCURRENT still holds the old key', async () => {
    secrets.on(GetSecretValueCommand, { VersionStage: 'AWSCURRENT' }).resolves(secretValue(OLD_KEY));

    await assert.rejects(
      deactivateOldKey(clients, { ...createdState(), distributed: DISTRIBUTED, deletionApproval: await approval() }),
      {
        name: 'SecretMismatch',
      },
    );
  });

  it('does not delete an old key someone re-activated during the grace period', async () => {
    await assert.rejects(deleteOldKey(clients, { ...createdState(), deletionApproval: await approval() }), {
      name: 'KeyMissing',
    });
    assert.equal(iam.commandCalls(DeleteAccessKeyCommand).length, 0);
  });

  it('treats an old key that is already gone as deleted', async () => {
    iam.on(ListAccessKeysCommand).resolves({ AccessKeyMetadata: [keyMeta(NEW_KEY, 'Active', started)] });

    const result = await deleteOldKey(clients, { ...createdState(), deletionApproval: await approval() });

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
