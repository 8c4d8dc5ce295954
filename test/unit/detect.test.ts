import assert from 'node:assert/strict';
import { describe, it } from '@jest/globals';
import { GetUserCommand, IAMClient } from '@aws-sdk/client-iam';
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
      detectKeys(async () => ({ iam: iam as unknown as IAMClient }), config, {
        ...request,
        input: { userName: 'ghost' },
      }),
      { name: 'UserNotFound', message: 'IAM user ghost does not exist' },
    );
  });
});
