import assert from 'node:assert/strict';
import { beforeEach, describe, it } from '@jest/globals';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { KMSClient, SignCommand } from '@aws-sdk/client-kms';
import { DynamoDBDocumentClient, GetCommand, PutCommand, QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { mockClient } from 'aws-sdk-client-mock';
import {
  decide,
  refusal,
  requestApproval,
  type ApprovalRecord,
  type TaskCallbacks,
} from '../../handlers/domain/approvals';
import { summarize } from '../../handlers/domain/outcome';
import { exitCodeFor } from '../../cli/outcome';
import { manifestProblem } from '../../handlers/domain/signing';
import { canonicalJson } from '../../handlers/shared/digest';
import {
  createdState,
  EXECUTION,
  NEW_KEY,
  OLD_KEY,
  SIGNING_KEY as signingKeyId,
  standInSigningKey,
} from '../support/fixtures';
import type { Signature } from '../../handlers/shared/schemas';

const ddb = mockClient(DynamoDBDocumentClient);
const sns = mockClient(SNSClient);
const secrets = mockClient(SecretsManagerClient);
const document = DynamoDBDocumentClient.from(new DynamoDBClient({}));
const kmsMock = mockClient(KMSClient);
const kms = kmsMock as unknown as KMSClient;
let verification: ReturnType<typeof standInSigningKey>;
const config = {
  signingKeyId,
  approvalsTable: 'approvals',
  topicArn: 'arn:topic',
  approvalBaseUrl: 'https://approvals.example',
  linkKeySecret: 'keyrot/approval-link-key',
  approvers: ['quality-approver', 'ops'],
};
const qa = { username: 'quality-approver', sub: 'sub-quality-approver', name: 'Quinn Avery (QA Lead)' };
const now = new Date('2026-11-22T10:00:00Z');

const record: ApprovalRecord = {
  approvalId: 'f'.repeat(32),
  taskToken: 'token-that-must-stay-server-side',
  executionId: EXECUTION,
  gate: 'DELETION',
  state: 'Approve Deletion',
  userName: 'alice',
  keyIds: [OLD_KEY, NEW_KEY],
  keys: [],
  oldKeyId: OLD_KEY,
  newKeyId: NEW_KEY,
  requestedBy: 'ops',
  requestedAt: now.toISOString(),
  expiresAt: '2026-11-23T10:00:00.000Z',
  status: 'PENDING',
};

function recordingCallbacks() {
  const calls: string[][] = [];
  const callbacks: TaskCallbacks = {
    sendTaskSuccess: async (token, output) => void calls.push(['success', token, output]),
    sendTaskFailure: async (token, error, cause) => void calls.push(['failure', token, error, cause]),
  };
  return { calls, callbacks };
}

beforeEach(() => {
  ddb.reset();
  sns.reset();
  secrets.reset();
  secrets.on(GetSecretValueCommand).resolves({ SecretString: 'k'.repeat(64) });
  kmsMock.reset();
  verification = standInSigningKey(kmsMock);
});

describe('requestApproval', () => {
  it('stores the token server-side and notifies with a signed link, never the token', async () => {
    ddb.on(QueryCommand).resolves({ Items: [] });
    const result = await requestApproval(
      { ddb: document, sns: sns as unknown as SNSClient, secrets: secrets as unknown as SecretsManagerClient },
      config,
      { taskToken: 'secret-token', gate: 'DELETION', expiresInSeconds: 3600, state: createdState() },
      now,
    );

    const stored = ddb.commandCalls(PutCommand)[0]?.args[0].input.Item as ApprovalRecord;
    assert.equal(stored.taskToken, 'secret-token');
    assert.match(stored.approvalId, /^[0-9a-f]{32}$/);
    assert.equal(stored.expiresAt, '2026-11-22T11:00:00.000Z');
    assert.deepEqual(stored.keyIds, [OLD_KEY, NEW_KEY]);
    const message = sns.commandCalls(PublishCommand)[0]?.args[0].input.Message ?? '';
    assert.match(message, new RegExp(`https://approvals.example/approvals/${result.approvalId}\\?sig=[0-9a-f]{64}`));
    assert.match(message, /Approving will deactivate the old access key/);
    assert.equal(message.includes('secret-token'), false);
  });

  it('supersedes the pending request of the same execution and gate when the step is retried', async () => {
    const stale = { ...record, approvalId: 'a'.repeat(32), gate: 'DELETION', status: 'PENDING' };
    const otherGate = { ...record, approvalId: 'b'.repeat(32), gate: 'ROTATION', status: 'PENDING' };
    // What the ByExecution index answers for this execution in PENDING: keys, gate and expiry.
    const indexed = ({ approvalId, executionId, status, gate, expiresAt }: typeof stale) => ({
      approvalId,
      executionId,
      status,
      gate,
      expiresAt,
    });
    ddb.on(QueryCommand).resolves({ Items: [indexed(stale), indexed(otherGate)] });

    const result = await requestApproval(
      { ddb: document, sns: sns as unknown as SNSClient, secrets: secrets as unknown as SecretsManagerClient },
      config,
      { taskToken: 'retry-token', gate: 'DELETION', expiresInSeconds: 3600, state: createdState() },
      now,
    );

    const updates = ddb.commandCalls(UpdateCommand).map((call) => call.args[0].input);
    assert.deepEqual(
      updates.map((update) => [update.Key?.approvalId, update.ExpressionAttributeValues?.[':supersededBy']]),
      [['a'.repeat(32), result.approvalId]],
    );
    assert.equal(updates[0]?.ConditionExpression, '#status = :pending');
    assert.match(
      updates[0]?.UpdateExpression ?? '',
      /REMOVE #pending$/,
      'out of the Pending index with the same write',
    );
    const query = ddb.commandCalls(QueryCommand)[0]?.args[0].input;
    assert.deepEqual(
      [query?.IndexName, query?.KeyConditionExpression, query?.ExpressionAttributeValues],
      [
        'ByExecution',
        '#execution = :execution AND #status = :status',
        { ':execution': record.executionId, ':status': 'PENDING' },
      ],
    );
    assert.match(
      refusal({ ...stale, status: 'SUPERSEDED' } as ApprovalRecord, qa, config, now) ?? '',
      /replaced by a newer one/,
    );
  });
});

describe('decide', () => {
  it('signs an approval: KMS signature over the canonical manifest, single-use write, then SendTaskSuccess', async () => {
    ddb.on(GetCommand).resolves({ Item: record });
    const { calls, callbacks } = recordingCallbacks();

    const signature = await decide(
      { ddb: document, kms, callbacks },
      config,
      {
        approvalId: record.approvalId,
        signer: qa,
        meaning: 'APPROVED',
        reason: 'CR-1042',
      },
      now,
    );

    assert.equal(manifestProblem(signature, verification), undefined);
    assert.match(
      manifestProblem({ ...signature, reason: 'CR-1043' }, verification) ?? '',
      /digest does not match|does not verify/,
    );
    const signed = kmsMock.commandCalls(SignCommand)[0]?.args[0].input;
    assert.deepEqual(
      [signed?.KeyId, signed?.MessageType, signed?.SigningAlgorithm],
      [signingKeyId, 'RAW', 'ECDSA_SHA_256'],
    );
    assert.equal(signature.signerSub, 'sub-quality-approver');
    assert.equal(signature.signedAt, '2026-11-22T10:00:00.000Z');
    assert.equal(signature.signer, 'Quinn Avery (QA Lead)');
    assert.equal(signature.state, 'Approve Deletion');
    assert.equal(ddb.commandCalls(UpdateCommand)[0]?.args[0].input.ConditionExpression, '#status = :pending');
    assert.deepEqual(calls, [['success', record.taskToken, JSON.stringify(signature)]]);
  });

  it('fails the task with ApprovalRejected on a rejection', async () => {
    ddb.on(GetCommand).resolves({ Item: record });
    const { calls, callbacks } = recordingCallbacks();

    await decide(
      { ddb: document, kms, callbacks },
      config,
      { approvalId: record.approvalId, signer: qa, meaning: 'REJECTED', reason: 'not now' },
      now,
    );

    assert.equal(calls[0]?.[2], 'ApprovalRejected');
    const cause = JSON.parse(calls[0]?.[3] ?? '{}') as { errorMessage: string; signature: Signature };
    assert.match(cause.errorMessage, /rejected by Quinn Avery \(QA Lead\) \(quality-approver\) at .*: not now/);
    assert.equal(cause.signature.meaning, 'REJECTED');
    assert.equal(manifestProblem(cause.signature, verification), undefined);
  });

  for (const [why, item, signer, when] of [
    ['the requester approves their own request', record, { username: 'ops', sub: 'sub-ops', name: 'Olu Pereira' }, now],
    [
      'the requester is the signer by sub',
      { ...record, requestedBy: 'sub-quality-approver' },
      { ...qa, sub: 'sub-quality-approver' },
      now,
    ],
    [
      'the requester is the IAM principal the directory links the signer to',
      { ...record, requestedBy: 'arn:aws:iam::123456789012:user/quinn' },
      { ...qa, principalArn: 'arn:aws:iam::123456789012:user/quinn' },
      now,
    ],
    ['the rotating user approves', record, { username: 'alice', sub: 'sub-alice', name: 'Alice' }, now],
    [
      'the rotating user is the IAM principal the directory links the signer to',
      record,
      { ...qa, principalArn: 'arn:aws:iam::123456789012:user/service/alice' },
      now,
    ],
    [
      'the approver is not on the allow-list',
      record,
      { username: 'intern', sub: 'sub-intern', name: 'Ivy Intern' },
      now,
    ],
    ['the approval was already decided', { ...record, status: 'APPROVED' }, qa, now],
    ['the approval expired', record, qa, new Date('2026-11-23T10:00:01Z')],
    ['the approval is unknown', undefined, qa, now],
  ] as const) {
    it(`refuses when ${why}, and resumes nothing`, async () => {
      ddb.on(GetCommand).resolves({ Item: item });
      const { calls, callbacks } = recordingCallbacks();

      await assert.rejects(
        decide(
          { ddb: document, kms, callbacks },
          config,
          { approvalId: record.approvalId, signer, meaning: 'APPROVED', reason: 'ok' },
          when,
        ),
        { name: 'InvalidApproval' },
      );
      assert.equal(calls.length, 0);
      assert.equal(ddb.commandCalls(UpdateCommand).length, 0);
    });
  }

  it('never compares printed names: a signer whose name copies the requester or the user is not refused for it', () => {
    const copycat = { ...qa, name: 'ops' };
    const aliasOfUser = { ...qa, name: 'alice' };

    assert.equal(refusal(record, copycat, config, now), undefined);
    assert.equal(refusal(record, aliasOfUser, config, now), undefined);
  });

  it('hashes equal records equally whatever the key order', () => {
    assert.equal(canonicalJson({ b: 1, a: { d: [1, 2], c: 'x' } }), '{"a":{"c":"x","d":[1,2]},"b":1}');
  });
});

describe('summarize and exitCodeFor', () => {
  const exited = (name: string, output: object) => ({
    type: 'TaskStateExited',
    stateExitedEventDetails: { name, output: JSON.stringify(output) },
  });
  const detected = exited('Detect Keys', { detection: { decision: 'ROTATE', oldKeyId: OLD_KEY } });

  it('reads ROTATED and both key ids from the history alone', () => {
    const result = summarize([
      detected,
      exited('Create Access Key', { created: { newKeyId: NEW_KEY } }),
      { type: 'ExecutionSucceeded', executionSucceededEventDetails: { output: '{"outcome":"ROTATED"}' } },
    ]);

    assert.deepEqual(result, {
      outcome: 'ROTATED',
      reason: null,
      decision: 'ROTATE',
      oldKeyId: OLD_KEY,
      newKeyId: NEW_KEY,
    });
    assert.equal(exitCodeFor(result), 0);
  });

  it('names a rollback by its Fail state error and exits 5', () => {
    const result = summarize([
      detected,
      { type: 'ExecutionFailed', executionFailedEventDetails: { error: 'ROLLED_BACK', cause: 'ApprovalRejected: no' } },
    ]);

    assert.equal(result.outcome, 'ROLLED_BACK');
    assert.equal(result.reason, 'ApprovalRejected: no');
    assert.equal(exitCodeFor(result), 5);
  });

  it('exits 3 for a BLOCKED skip and 2 for invalid input', () => {
    const blocked = summarize([
      exited('Detect Keys', { detection: { decision: 'BLOCKED' } }),
      { type: 'ExecutionSucceeded', executionSucceededEventDetails: { output: '{"outcome":"SKIPPED"}' } },
    ]);
    const invalid = summarize([
      { type: 'ExecutionFailed', executionFailedEventDetails: { error: 'InvalidInput', cause: 'x' } },
    ]);

    assert.equal(exitCodeFor(blocked), 3);
    assert.equal(exitCodeFor(invalid, 'InvalidInput'), 2);
  });
});
