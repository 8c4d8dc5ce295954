import assert from 'node:assert/strict';
import { beforeEach, describe, it } from '@jest/globals';
import {
  GetAccessKeyLastUsedCommand,
  IAMClient,
  ListAccessKeysCommand,
  UpdateAccessKeyCommand,
} from '@aws-sdk/client-iam';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { KMSClient } from '@aws-sdk/client-kms';
import { mockClient } from 'aws-sdk-client-mock';
import { reviewPage } from '../../handlers/domain/approval-page';
import type { ApprovalRecord } from '../../handlers/domain/approvals';
import { deactivateOldKey } from '../../handlers/domain/old-key';
import { judgeOldKeyUse, OLD_KEY_QUIET_SECONDS, stillInUse } from '../../handlers/domain/old-key-use';
import { createdState, EXECUTION, NEW_KEY, OLD_KEY, secretValue } from '../support/fixtures';

const DISTRIBUTED_AT = '2026-11-22T10:00:02.000Z';
const at = (iso: string) => new Date(iso);
const later = (seconds: number) => new Date(Date.parse(DISTRIBUTED_AT) + seconds * 1000);

describe('judging the old key last use against the distribution', () => {
  it('counts only a use strictly after the distribution as a consumer that has not moved', () => {
    assert.equal(judgeOldKeyUse(OLD_KEY, null, DISTRIBUTED_AT).usedAfterDistribution, false);
    assert.equal(judgeOldKeyUse(OLD_KEY, undefined, DISTRIBUTED_AT).usedAfterDistribution, false);
    assert.equal(judgeOldKeyUse(OLD_KEY, at('2026-11-22T10:00:01.999Z'), DISTRIBUTED_AT).usedAfterDistribution, false);
    assert.equal(judgeOldKeyUse(OLD_KEY, at(DISTRIBUTED_AT), DISTRIBUTED_AT).usedAfterDistribution, false);
    assert.equal(judgeOldKeyUse(OLD_KEY, at('2026-11-22T10:00:02.001Z'), DISTRIBUTED_AT).usedAfterDistribution, true);
  });

  it('refuses while the use after distribution is recent, naming the key and when it was last used', () => {
    const use = judgeOldKeyUse(OLD_KEY, later(60), DISTRIBUTED_AT);

    const refusal = stillInUse(use, later(120));

    assert.equal(
      refusal,
      `old key ${OLD_KEY} was last used at 2026-11-22T10:01:02.000Z, after the new key was distributed at ` +
        `${DISTRIBUTED_AT}: a consumer still uses it`,
    );
  });

  it('lets a consumer that moved after one late use through once the old key has been quiet long enough', () => {
    const use = judgeOldKeyUse(OLD_KEY, later(60), DISTRIBUTED_AT);

    assert.ok(stillInUse(use, later(60 + OLD_KEY_QUIET_SECONDS - 1)));
    assert.equal(stillInUse(use, later(60 + OLD_KEY_QUIET_SECONDS)), undefined);
  });

  it('never refuses a key that was not used after the distribution, however recent', () => {
    assert.equal(stillInUse(judgeOldKeyUse(OLD_KEY, at('2026-11-22T10:00:01Z'), DISTRIBUTED_AT), later(1)), undefined);
    assert.equal(stillInUse(judgeOldKeyUse(OLD_KEY, null, DISTRIBUTED_AT), later(1)), undefined);
  });
});

describe('deactivateOldKey and the old key last use', () => {
  const iam = mockClient(IAMClient);
  const secrets = mockClient(SecretsManagerClient);
  // The deletion gate is off here: no signature to check, so KMS is never asked.
  const clients = {
    iam: iam as unknown as IAMClient,
    secrets: secrets as unknown as SecretsManagerClient,
    kms: new KMSClient({ region: 'us-east-1' }),
  };
  const state = () => ({
    ...createdState(),
    config: { ...createdState().config, approveDeletion: false },
    distributed: { distributedAt: DISTRIBUTED_AT },
  });
  const lastUsed = (date: Date | undefined) =>
    iam.on(GetAccessKeyLastUsedCommand, { AccessKeyId: OLD_KEY }).resolves({
      UserName: 'alice',
      AccessKeyLastUsed: { LastUsedDate: date, Region: 'us-east-1', ServiceName: 's3' },
    });
  const keys = (oldStatus: 'Active' | 'Inactive') =>
    iam.on(ListAccessKeysCommand).resolves({
      AccessKeyMetadata: [
        { AccessKeyId: OLD_KEY, Status: oldStatus },
        { AccessKeyId: NEW_KEY, Status: 'Active' },
      ],
    });

  beforeEach(() => {
    iam.reset();
    secrets.reset();
    secrets.on(GetSecretValueCommand, { VersionStage: 'AWSCURRENT' }).resolves(secretValue(NEW_KEY));
  });

  it('refuses with OldKeyStillInUse and changes nothing when a consumer signed with the old key after the distribution', async () => {
    keys('Active');
    lastUsed(later(30));

    await assert.rejects(deactivateOldKey(clients, state(), later(90)), {
      name: 'OldKeyStillInUse',
      message: new RegExp(`old key ${OLD_KEY} was last used at 2026-11-22T10:00:32.000Z, after the new key`),
    });
    assert.equal(iam.commandCalls(UpdateAccessKeyCommand).length, 0);
  });

  it('deactivates the old key when its last use was before the distribution, and records that use', async () => {
    keys('Active');
    lastUsed(at('2026-11-22T09:59:00Z'));

    const result = await deactivateOldKey(clients, state(), later(90));

    assert.equal(result.lastUsedAt, '2026-11-22T09:59:00.000Z');
    assert.deepEqual(iam.commandCalls(UpdateAccessKeyCommand)[0]?.args[0].input, {
      UserName: 'alice',
      AccessKeyId: OLD_KEY,
      Status: 'Inactive',
    });
  });

  it('does not judge an old key that is already inactive (a retry of the step): it deactivates again', async () => {
    keys('Inactive');
    lastUsed(later(30));

    const result = await deactivateOldKey(clients, state(), later(90));

    assert.equal(result.status, 'Inactive');
    assert.equal(iam.commandCalls(GetAccessKeyLastUsedCommand).length, 0);
    assert.equal(iam.commandCalls(UpdateAccessKeyCommand).length, 1);
  });
});

describe('the deletion approval page', () => {
  const record = (oldKeyUse?: ApprovalRecord['oldKeyUse']): ApprovalRecord => ({
    approvalId: 'a'.repeat(32),
    taskToken: 'token',
    executionId: EXECUTION,
    gate: 'DELETION',
    state: 'Approve Deletion',
    userName: 'alice',
    keyIds: [OLD_KEY, NEW_KEY],
    keys: createdState().detection.keys,
    oldKeyId: OLD_KEY,
    newKeyId: NEW_KEY,
    ...(oldKeyUse ? { oldKeyUse } : {}),
    requestedBy: 'ops',
    requestedAt: '2026-11-22T10:00:05.000Z',
    expiresAt: '2026-11-23T10:00:05.000Z',
    status: 'PENDING',
  });
  const form = { action: '/approvals/x', csrf: 'c' };

  it('warns prominently when the old key was used after the new key was distributed', () => {
    const use = { ...judgeOldKeyUse(OLD_KEY, later(30), DISTRIBUTED_AT), checkedAt: '2026-11-22T10:00:05.000Z' };

    const html = reviewPage(record(use), form);

    assert.match(
      html,
      /<p class="warning" role="alert" id="old-key-in-use"><strong>Warning: the old key is still in use/,
    );
    assert.match(html, new RegExp(`the old key ${OLD_KEY} was used at 2026-11-22T10:00:32.000Z, after the new key`));
    assert.match(html, /used AFTER the new key was distributed/);
    assert.ok(html.indexOf('old-key-in-use') < html.indexOf('Approving will'), 'the warning comes first');
  });

  it('shows no warning when the old key was not used since the distribution, and says so beside the key', () => {
    const use = {
      ...judgeOldKeyUse(OLD_KEY, at('2026-11-22T09:00:00Z'), DISTRIBUTED_AT),
      checkedAt: '2026-11-22T10:00:05.000Z',
    };

    const html = reviewPage(record(use), form);

    assert.doesNotMatch(html, /old-key-in-use/);
    assert.match(html, /not used since the new key was distributed at 2026-11-22T10:00:02.000Z/);
    assert.doesNotMatch(reviewPage(record(), form), /old-key-in-use|since the new key was distributed/);
  });

  it('says when the old key last use could not be read rather than implying it is unused', () => {
    const html = reviewPage(record({ error: 'AccessDenied', checkedAt: '2026-11-22T10:00:05.000Z' }), form);

    assert.match(html, /its use since the distribution could not be read \(AccessDenied\)/);
  });
});
