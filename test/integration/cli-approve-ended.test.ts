import assert from 'node:assert/strict';
import { afterAll, beforeAll, describe, it } from '@jest/globals';
import { DynamoDBClient, GetItemCommand } from '@aws-sdk/client-dynamodb';
import { LocalTaskTokens } from '../../local/engine';
import { startApprovalServer } from '../../local/approval-server';
import { cliSession } from '../support/cli';
import { LocalAws } from '../support/local-aws';

// `keyrot approve|reject` once the rotation it would resume has ended, as a subprocess.
let aws: LocalAws;
const { keyrot, rotationAtDeletionGate, runningExecution } = cliSession(() => aws);
const PASSWORD = { KEYROT_APPROVER_PASSWORD: 'Demo-Approver-1!' };

beforeAll(async () => {
  aws = await LocalAws.start();
});
afterAll(async () => aws?.stop());

describe('keyrot approve after the rotation ended', () => {
  it('says the rotation is no longer waiting, names the approval, the execution and how it ended, and exits 15', async () => {
    const { rotation, link } = await rotationAtDeletionGate('ended-gate');
    const rejected = await keyrot(
      'reject',
      link,
      '--as',
      'quality-approver',
      '--reason',
      'consumer not ready',
      PASSWORD,
    );
    const done = await rotation;
    assert.equal(rejected.code, 0, rejected.stderr);
    assert.equal(JSON.parse(done.stdout).outcome, 'ROLLED_BACK');
    const approvalId = new URL(link).pathname.split('/').at(-1) ?? '';

    const late = await keyrot('approve', link, '--as', 'quality-approver', '--reason', 'too late', PASSWORD);
    const lateJson = await keyrot(
      'reject',
      link,
      '--as',
      'quality-approver',
      '--reason',
      'too late',
      '--json',
      PASSWORD,
    );

    assert.equal(late.code, 15, late.stderr);
    assert.match(
      late.stderr,
      new RegExp(
        `^keyrot: approval ${approvalId} \\(Approve Deletion for ended-gate, execution ended-gate-\\S+\\) is no longer ` +
          'waiting for a decision: execution ended-gate-\\S+ ended ROLLED_BACK: ApprovalRejected: rejected by',
      ),
    );
    assert.equal(late.stderr.trim().split('\n').length, 1, 'one line, no stack trace');
    assert.doesNotMatch(late.stderr, /fetch failed|TypeError/);
    assert.equal(lateJson.code, 15);
    assert.equal(JSON.parse(lateJson.stdout).status, 'NOT_WAITING');
  });

  it('closes the approval of an aborted rotation: not listed, its record ABORTED saying why, its page 410', async () => {
    const { rotation, link } = await rotationAtDeletionGate('aborted-gate');
    const approvalId = new URL(link).pathname.split('/').at(-1) ?? '';
    const name = await runningExecution('aborted-gate');
    const listedBefore = JSON.parse((await keyrot('approvals', '--json')).stdout) as { approvalId: string }[];

    const aborted = await keyrot('abort', name, '--local', '--reason', 'CR-1042 withdrawn', '--as', 'olu');
    await rotation;
    const listedAfter = JSON.parse((await keyrot('approvals', '--json')).stdout) as { approvalId: string }[];
    const item = await new DynamoDBClient({
      endpoint: aws.moto.endpoint,
      region: 'us-east-1',
      credentials: aws.operator,
    }).send(
      new GetItemCommand({ TableName: aws.environment.KEYROT_APPROVALS_TABLE, Key: { approvalId: { S: approvalId } } }),
    );
    // The page, served again (the rotation's own server ended with it), on the same signed link.
    const server = await startApprovalServer(new LocalTaskTokens());
    const page = await fetch(`${server.url}${new URL(link).pathname}${new URL(link).search}`);
    const body = await page.text();
    await server.stop();

    assert.equal(aborted.code, 0, aborted.stderr);
    assert.ok(
      listedBefore.some((a) => a.approvalId === approvalId),
      'listed while the rotation waited',
    );
    assert.ok(!listedAfter.some((a) => a.approvalId === approvalId), 'no longer listed once aborted');
    assert.equal(item.Item?.status?.S, 'ABORTED');
    assert.match(item.Item?.closedBecause?.S ?? '', /the rotation was aborted \(aborted by olu: CR-1042 withdrawn/);
    assert.equal(page.status, 410);
    assert.match(body, /This approval is closed: the rotation was aborted/);
    assert.doesNotMatch(body, /<form/);
  });

  it('documents the exit code in --help', async () => {
    for (const verb of ['approve', 'reject']) {
      const help = await keyrot(verb, '--help');

      assert.equal(help.code, 0);
      assert.match(help.stdout, /15 no longer waiting \(the rotation ended\)/);
    }
  });
});
