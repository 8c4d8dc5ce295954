import assert from 'node:assert/strict';
import { afterAll, beforeAll, describe, it } from '@jest/globals';
import { renderReplay } from '../../audit/render';
import { replay } from '../../audit/replay';
import type { WaitingApproval } from '../../handlers/domain/approvals';
import type { LocalExecution } from '../../local/engine';
import { LocalAws } from '../support/local-aws';
import { waitingApprovalOf } from '../support/approval-gate';
import { runRotation, statesEntered } from '../support/rotation-runner';

// The handlers' clients read the environment LocalAws sets, so they are imported after it.
let aws: LocalAws;
let modules: {
  approvals: typeof import('../../handlers/domain/approvals');
  links: typeof import('../../handlers/domain/approval-links');
  clients: typeof import('../../handlers/shared/clients');
  engine: typeof import('../../local/engine');
};
let server: { url: string; stop: () => Promise<void> } | undefined;

const NO_GATE = { validationMode: 'none', approveDeletion: false } as const;
const arn = (user: string) => `arn:aws:iam::123456789012:user/${user}`;
const attempts = (execution: LocalExecution, state: string) =>
  statesEntered(execution).filter((name) => name === state).length;

/** The times the Deactivate Old Key task was scheduled (its first try and every retry). */
const deactivations = (execution: LocalExecution) =>
  execution.events.filter((e) => e.type === 'LambdaFunctionScheduled' && JSON.stringify(e).includes('deactivate-key'))
    .length;

describe('the old key is never retired while a consumer still uses it', () => {
  beforeAll(async () => {
    aws = await LocalAws.start();
    modules = {
      approvals: await import('../../handlers/domain/approvals'),
      links: await import('../../handlers/domain/approval-links'),
      clients: await import('../../handlers/shared/clients'),
      engine: await import('../../local/engine'),
    };
  });
  afterAll(async () => {
    await server?.stop();
    await aws?.stop();
  });

  it('rolls back with OLD_KEY_STILL_IN_USE when a consumer keeps signing with the old key after the distribution', async () => {
    const old = await aws.seedUser('stuck-consumer');

    const execution = await runRotation(
      { userName: 'stuck-consumer', force: true, config: NO_GATE },
      {
        // The consumer never re-reads the secret: it signs with the old key before every check.
        around: async (handler, invoke) => {
          if (handler === 'deactivate-key') await aws.use(old);
          return invoke();
        },
      },
    );

    assert.equal(execution.status, 'FAILED');
    assert.equal(execution.error, 'ROLLED_BACK');
    assert.match(
      execution.cause ?? '',
      new RegExp(
        `^OLD_KEY_STILL_IN_USE: old key ${old.accessKeyId} was last used at \\d{4}-\\d\\d-\\d\\dT[\\d:.]+Z, ` +
          'after the new key was distributed at',
      ),
    );
    assert.equal(deactivations(execution), 7, 'the first check and six retries, then the rollback');
    assert.equal(attempts(execution, 'Roll Back'), 1);
    // Checked from outside: the old key is the only key, active, AWSCURRENT, and it still works.
    assert.deepEqual(await aws.keys('stuck-consumer'), [{ id: old.accessKeyId, status: 'Active' }]);
    assert.equal((await aws.secretKey('stuck-consumer'))?.accessKeyId, old.accessKeyId);
    assert.equal(await aws.whoIs(old), arn('stuck-consumer'));
    const text = renderReplay(replay(execution), 'text');
    assert.match(text, /ROLLED_BACK/);
    assert.match(text, new RegExp(`OLD_KEY_STILL_IN_USE: old key ${old.accessKeyId} was last used at`));
  });

  it('rotates as before when the consumer moved to the new key after the distribution', async () => {
    const old = await aws.seedUser('moved-consumer');
    await aws.use(old);
    const usedBefore = await aws.lastUsed(old.accessKeyId);

    const execution = await runRotation(
      { userName: 'moved-consumer', force: true, config: NO_GATE },
      {
        around: async (handler, invoke) => {
          const result = await invoke();
          // The consumer re-reads AWSCURRENT as soon as it moves and signs only with the new key.
          if (handler === 'distribute-key') await aws.use((await aws.secretKey('moved-consumer'))!);
          return result;
        },
      },
    );

    assert.equal(execution.status, 'SUCCEEDED', `${execution.error}: ${execution.cause}`);
    const output = execution.output as { outcome: string; newKeyId: string };
    assert.equal(output.outcome, 'ROTATED');
    assert.equal(deactivations(execution), 1);
    assert.deepEqual(await aws.keys('moved-consumer'), [{ id: output.newKeyId, status: 'Active' }]);
    assert.equal((await aws.secretKey('moved-consumer'))?.accessKeyId, output.newKeyId);
    assert.equal(await aws.whoIs(old), 'InvalidClientTokenId');
    const deactivated = execution.events.find(
      (e) =>
        e.type === 'TaskStateExited' && (e.stateExitedEventDetails as { name: string }).name === 'Deactivate Old Key',
    );
    const recorded = JSON.parse((deactivated?.stateExitedEventDetails as { output: string }).output) as {
      deactivated: { lastUsedAt: string };
    };
    assert.equal(recorded.deactivated.lastUsedAt, usedBefore?.toISOString(), 'the last use judged is on record');
  });

  it('warns on the deletion approval page when the old key was used after the distribution, and still refuses to deactivate it once approved', async () => {
    const old = await aws.seedUser('page-warning');
    const tokens = new modules.engine.LocalTaskTokens();
    const { startApprovalServer } = await import('../../local/approval-server');
    const approvals = await startApprovalServer(tokens);
    server = approvals;
    const { clients, settings } = modules.clients;

    const run = runRotation(
      { userName: 'page-warning', force: true, config: { validationMode: 'none' } },
      {
        decision: 'none',
        tokens,
        around: async (handler, invoke) => {
          const result = await invoke();
          if (handler === 'distribute-key' || handler === 'deactivate-key') await aws.use(old);
          return result;
        },
      },
    );
    const deadline = Date.now() + 300_000;
    let pending: WaitingApproval | undefined;
    while (!pending && Date.now() < deadline) {
      pending = await waitingApprovalOf('page-warning');
      if (!pending) await new Promise((resolve) => setTimeout(resolve, 100));
    }
    assert.ok(pending, 'the deletion gate is waiting');
    const key = await modules.links.loadLinkKey(clients.secrets, settings());
    const link = `${approvals.url}/approvals/${pending.approvalId}?sig=${modules.links.linkSignature(key, pending.approvalId)}`;

    const page = await fetch(link, { signal: AbortSignal.timeout(120_000) });
    const html = await page.text();
    const asJson = (await (
      await fetch(link, { headers: { accept: 'application/json' }, signal: AbortSignal.timeout(120_000) })
    ).json()) as { approval?: { oldKeyUse?: { usedAfterDistribution?: boolean; keyId?: string } } };

    assert.equal(page.status, 200);
    assert.match(
      html,
      /<p class="warning" role="alert" id="old-key-in-use"><strong>Warning: the old key is still in use/,
    );
    assert.match(
      html,
      new RegExp(`the old key ${old.accessKeyId} was used at [^,]+, after the new key was distributed`),
    );
    assert.ok(
      html.indexOf('old-key-in-use') < html.indexOf('Approving will'),
      'the warning comes before the consequence',
    );
    assert.deepEqual(
      [asJson.approval?.oldKeyUse?.usedAfterDistribution, asJson.approval?.oldKeyUse?.keyId],
      [true, old.accessKeyId],
    );
    assert.ok(
      (await aws.notifications()).some((n) => n.includes(`WARNING: the old key ${old.accessKeyId} was used at`)),
      'the approvers are warned in the notification too',
    );
    assert.doesNotMatch(html, new RegExp(old.secretAccessKey.replace(/[^\w]/g, '.')));

    // Prepare/Act once more: an approver signs anyway; keyrot still does not retire the key.
    await modules.approvals.decideAllPending({ ...clients, callbacks: tokens }, settings(), pending.executionId, {
      signer: { username: 'quality-approver', sub: 'auto-approve:quality-approver', name: 'Quinn Avery (QA Lead)' },
      meaning: 'APPROVED',
      reason: 'approved despite the warning',
    });
    const execution = await run;

    assert.equal(execution.error, 'ROLLED_BACK');
    assert.match(execution.cause ?? '', /^OLD_KEY_STILL_IN_USE: /);
    assert.deepEqual(await aws.keys('page-warning'), [{ id: old.accessKeyId, status: 'Active' }]);
    assert.equal((await aws.secretKey('page-warning'))?.accessKeyId, old.accessKeyId);
  });
});
