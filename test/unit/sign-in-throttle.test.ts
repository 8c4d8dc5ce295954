import assert from 'node:assert/strict';
import { describe, it } from '@jest/globals';
import { BASE_DELAY_SECONDS, delayAfter, FREE_ATTEMPTS, signInIdentity } from '../../handlers/domain/sign-in-throttle';

const DAY = 86_400_000;

/** How many attempts fit into `lifetimeMs` when each one is made the moment the throttle allows it. */
function attemptsWithin(lifetimeMs: number): number {
  let elapsed = 0;
  let attempts = 0;
  while (elapsed <= lifetimeMs / 1000) {
    attempts += 1;
    elapsed += delayAfter(attempts, lifetimeMs);
  }
  return attempts;
}

describe('the sign-in throttle schedule', () => {
  it('lets the first three attempts through, then waits 10 s doubling up to 1% of the lifetime', () => {
    const waits = Array.from({ length: 12 }, (_, i) => delayAfter(i + 1, DAY));

    assert.equal(FREE_ATTEMPTS, 3);
    assert.equal(BASE_DELAY_SECONDS, 10);
    assert.deepEqual(waits, [0, 0, 10, 20, 40, 80, 160, 320, 640, 864, 864, 864]);
    assert.equal(delayAfter(50, 7 * DAY), 6048, '1% of seven days');
    assert.equal(delayAfter(50, 2000), 10, 'never below 10 s, however short the approval');
  });

  it('bounds the guesses on one user name and approval to about 110 over its whole life', () => {
    for (const lifetime of [3_600_000, DAY, 7 * DAY]) {
      const attempts = attemptsWithin(lifetime);
      assert.ok(attempts >= 100 && attempts <= 115, `${attempts} attempts in ${lifetime} ms`);
    }
  });

  it('counts case, spacing and width variants as one identity, and none for names no account can have', () => {
    assert.deepEqual(['System-Owner', '  SYSTEM-OWNER ', 'ｓｙｓｔｅｍ－ｏｗｎｅｒ'].map(signInIdentity), [
      'system-owner',
      'system-owner',
      'system-owner',
    ]);
    assert.equal(signInIdentity('   '), undefined);
    assert.equal(signInIdentity('x'.repeat(129)), undefined);
    assert.equal(signInIdentity('x'.repeat(128)), 'x'.repeat(128));
  });
});
