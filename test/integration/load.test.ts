import assert from 'node:assert/strict';
import { afterAll, beforeAll, describe, it } from '@jest/globals';
import { summarize } from '../../handlers/domain/outcome';
import type { LocalKey } from '../../local/seed';
import { assertNoSecretIn, recordSecrets } from '../support/faults';
import { invariantViolations } from '../support/invariants';
import { LocalAws } from '../support/local-aws';
import { inParallel, spread } from '../support/parallel';
import { runRotation } from '../support/rotation-runner';

/**
 * 100 rotations at once through the local engine against one moto (waits instant, deletion
 * gates signed in-process): every one ROTATED, the invariants hold for every user, no secret
 * in any history, and the run prints throughput and peak memory.
 */
const N = 100;
let aws: LocalAws;
const secrets: string[] = [];

describe('load', () => {
  beforeAll(async () => {
    aws = await LocalAws.start();
    const { clients } = await import('../../handlers/shared/clients');
    recordSecrets(clients.iam, secrets);
  });
  afterAll(async () => aws?.stop());

  it(`rotates ${N} users in parallel, every one ROTATED with its invariants held`, async () => {
    const users: { user: string; original: LocalKey }[] = [];
    for (let i = 0; i <= N; i += 1) users.push({ user: `load-${i}`, original: await aws.seedUser(`load-${i}`) });
    secrets.push(...users.map((u) => u.original.secretAccessKey));
    const rotate = ({ user }: { user: string }) =>
      runRotation({ userName: user, force: true, config: { validationMode: 'none' } }, { decision: 'APPROVED' });
    await rotate(users.pop()!); // warm: handlers loaded once, as a long-lived process has them

    const run = await inParallel(users, rotate);

    const { median, max } = spread(run.results.map((r) => r.ms));
    process.stdout.write(
      `# ${N} parallel rotations: ${run.wallSeconds.toFixed(1)} s wall, ${(N / run.wallSeconds).toFixed(2)} rotations/s, ` +
        `median ${median.toFixed(0)} ms, max ${max.toFixed(0)} ms, peak RSS ${run.peakRssMiB.toFixed(0)} MiB, ` +
        `peak heap ${run.peakHeapMiB.toFixed(0)} MiB\n`,
    );
    const broken: string[] = [];
    for (const [i, { value: execution }] of run.results.entries()) {
      const { user, original } = users[i]!;
      const outcome = summarize(execution.events).outcome;
      if (outcome !== 'ROTATED') broken.push(`${user}: ${outcome} ${execution.cause ?? ''}`);
      for (const violation of await invariantViolations(aws, user, original, execution)) {
        broken.push(`${user}: ${violation}`);
      }
    }
    assert.deepEqual(broken, []);
    assertNoSecretIn(run.results.map((r) => JSON.stringify(r.value)).join('\n'), secrets, 2 * N);
  });
});
