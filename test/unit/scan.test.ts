import assert from 'node:assert/strict';
import { beforeEach, describe, it } from '@jest/globals';
import {
  GenerateCredentialReportCommand,
  GetCredentialReportCommand,
  IAMClient,
  ListUserTagsCommand,
} from '@aws-sdk/client-iam';
import { AssumeRoleCommand, GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { mockClient } from 'aws-sdk-client-mock';
import { parseCredentialReport } from '../../handlers/domain/credential-report';
import { DEFAULT_RULES, judge, scanAccount, scanAccounts } from '../../handlers/domain/scan';
import { executionName } from '../../handlers/domain/start-rotation';

const AS_OF = new Date('2026-06-30T12:00:00Z');
const rules = { ...DEFAULT_RULES, asOf: AS_OF };
const daysAgo = (days: number) => new Date(AS_OF.getTime() - days * 86_400_000 - 60_000).toISOString();

const HEADER =
  'user,arn,user_creation_time,password_enabled,password_last_used,password_last_changed,password_next_rotation,mfa_active,access_key_1_active,access_key_1_last_rotated,access_key_1_last_used_date,access_key_1_last_used_region,access_key_1_last_used_service,access_key_2_active,access_key_2_last_rotated,access_key_2_last_used_date,access_key_2_last_used_region,access_key_2_last_used_service,cert_1_active,cert_1_last_rotated,cert_2_active,cert_2_last_rotated';

/** One credential report line: keys as [active, age in days, days since last use or null]. */
function line(user: string, keys: [boolean, number, number | null][], userPath = '/'): string {
  const key = (slot: number) => {
    const found = keys[slot];
    if (!found) return ['false', 'N/A', 'N/A', 'N/A', 'N/A'];
    const [active, age, used] = found;
    return [String(active), daysAgo(age), used === null ? 'N/A' : daysAgo(used), 'us-east-1', 'iam'];
  };
  return [
    user,
    `arn:aws:iam::111122223333:user${userPath}${user}`,
    daysAgo(400),
    'false',
    'N/A',
    'N/A',
    'N/A',
    'false',
    ...key(0),
    ...key(1),
    'false',
    'N/A',
    'false',
    'N/A',
  ].join(',');
}

const one = (age: number, used: number | null = 1) =>
  parseCredentialReport(`${HEADER}\n${line('svc', [[true, age, used]])}`)[0]!;

describe('scan verdicts', () => {
  for (const [age, verdict] of [
    [79, 'OK'],
    [80, 'WARN'],
    [89, 'WARN'],
    [90, 'DUE'],
    [91, 'DUE'],
  ] as const) {
    it(`judges a key ${age} days old ${verdict}`, () => {
      assert.equal(judge(one(age), rules).verdict, verdict);
    });
  }

  it('calls a key never used in 90 days UNUSED, a candidate for deletion rather than rotation', () => {
    assert.equal(judge(one(95, null), rules).verdict, 'UNUSED');
    assert.match(judge(one(95, null), rules).reason, /never used in 95 days: delete it rather than rotate it/);
    assert.equal(judge(one(30, null), rules).verdict, 'OK', 'a fresh key may not be in use yet');
    assert.equal(judge(one(200, 120), rules).verdict, 'UNUSED');
    assert.equal(judge(one(200, 89), rules).verdict, 'DUE');
  });

  it('judges by the oldest active key; inactive keys are listed but never due; no key is OK', () => {
    const [none, inactive, two] = parseCredentialReport(
      [
        HEADER,
        line('none', []),
        line('inactive', [[false, 300, 1]]),
        line('two', [
          [true, 10, 1],
          [true, 95, 1],
        ]),
      ].join('\n'),
    );

    assert.deepEqual([judge(none!, rules).verdict, judge(none!, rules).reason], ['OK', 'no access keys']);
    assert.deepEqual([judge(inactive!, rules).verdict, judge(inactive!, rules).reason], ['OK', 'no active access key']);
    assert.equal(judge(inactive!, rules).keys[0]?.ageDays, 300);
    assert.equal(judge(two!, rules).verdict, 'DUE');
    assert.match(
      judge(two!, rules).reason,
      /key 2 is 95 days old .* two active keys: the rotation will stop at BLOCKED/,
    );
  });

  it('calls a user with two active keys DUE whatever their age, with the note that the rotation will stop at BLOCKED', () => {
    const [young, warned, oneInactive] = parseCredentialReport(
      [
        HEADER,
        line('young', [
          [true, 10, 1],
          [true, 2, 1],
        ]),
        line('warned', [
          [true, 85, 1],
          [true, 1, 1],
        ]),
        line('one-inactive', [
          [true, 10, 1],
          [false, 2, 1],
        ]),
      ].join('\n'),
    );

    assert.deepEqual(
      [judge(young!, rules).verdict, judge(young!, rules).reason],
      ['DUE', 'two active keys (key 1 10 days old, key 2 2 days old): the rotation will stop at BLOCKED for a human'],
    );
    assert.equal(judge(warned!, rules).verdict, 'DUE');
    assert.equal(judge(oneInactive!, rules).verdict, 'OK', 'an inactive second key is not a second active key');
  });
});

describe('scanAccount', () => {
  const iam = mockClient(IAMClient);
  beforeEach(() => {
    iam.reset();
  });

  it('waits for the credential report, reads tags only for users that are not OK, and exempts by tag with its reason', async () => {
    iam
      .on(GenerateCredentialReportCommand)
      .resolvesOnce({ State: 'STARTED' })
      .resolvesOnce({ State: 'INPROGRESS' })
      .resolves({ State: 'COMPLETE' });
    const csv = [
      HEADER,
      line('fresh', [[true, 5, 1]]),
      line('old', [[true, 120, 1]]),
      line('legacy', [[true, 400, 2]]),
      line('nokeys', []),
    ].join('\n');
    iam.on(GetCredentialReportCommand).resolves({ Content: new TextEncoder().encode(csv), ReportFormat: 'text/csv' });
    iam
      .on(ListUserTagsCommand, { UserName: 'legacy' })
      .resolves({ Tags: [{ Key: 'keyrot:exempt', Value: 'vendor appliance, CR-88' }] });
    iam.on(ListUserTagsCommand, { UserName: 'old' }).resolves({ Tags: [{ Key: 'team', Value: 'payments' }] });

    const scanned = await scanAccount(new IAMClient({}), '111122223333', rules, { pollMs: 1 });

    assert.deepEqual(
      scanned.map((user) => [user.user, user.verdict, user.reason]),
      [
        ['fresh', 'OK', 'oldest active key 5 days old'],
        ['old', 'DUE', 'key 1 is 120 days old (maximum 90)'],
        ['legacy', 'EXEMPT', 'exempt: vendor appliance, CR-88'],
      ],
    );
    assert.equal(iam.commandCalls(GenerateCredentialReportCommand).length, 3);
    assert.equal(iam.commandCalls(GetCredentialReportCommand).length, 1);
    assert.deepEqual(
      iam.commandCalls(ListUserTagsCommand).map((call) => call.args[0].input.UserName),
      ['old', 'legacy'],
    );
  });

  it('judges only the users the stack manages: under the user path, carrying the managed tag', async () => {
    iam.on(GenerateCredentialReportCommand).resolves({ State: 'COMPLETE' });
    const csv = [
      HEADER,
      line('svc', [[true, 120, 1]], '/service-accounts/'),
      line('human', [[true, 120, 1]]),
      line('untagged', [[true, 120, 1]], '/service-accounts/'),
      line('opted-out', [[true, 120, 1]], '/service-accounts/'),
    ].join('\n');
    iam.on(GetCredentialReportCommand).resolves({ Content: new TextEncoder().encode(csv), ReportFormat: 'text/csv' });
    iam.on(ListUserTagsCommand, { UserName: 'svc' }).resolves({ Tags: [{ Key: 'keyrot:managed', Value: 'true' }] });
    // The deployed role's tag condition refuses to read an untagged user's tags.
    iam
      .on(ListUserTagsCommand, { UserName: 'untagged' })
      .rejects(Object.assign(new Error('not authorized'), { name: 'AccessDenied' }));
    iam.on(ListUserTagsCommand, { UserName: 'opted-out' }).resolves({ Tags: [{ Key: 'keyrot:managed', Value: 'no' }] });

    const scanned = await scanAccount(
      new IAMClient({}),
      '111122223333',
      { ...rules, scope: { userPath: '/service-accounts/', userTag: 'keyrot:managed' } },
      { pollMs: 1 },
    );

    assert.deepEqual(
      scanned.map((user) => [user.user, user.verdict]),
      [['svc', 'DUE']],
    );
    assert.ok(!iam.commandCalls(ListUserTagsCommand).some((call) => call.args[0].input.UserName === 'human'));
  });

  it('gives up with a clear error when the report never gets ready', async () => {
    iam.on(GenerateCredentialReportCommand).resolves({ State: 'INPROGRESS' });

    await assert.rejects(
      scanAccount(new IAMClient({}), '111122223333', rules, { pollMs: 1, timeoutMs: 20 } as never),
      /the IAM credential report was not ready in time/,
    );
    assert.equal(iam.commandCalls(GetCredentialReportCommand).length, 0);
  });
});

describe('execution names', () => {
  it('are one per user and day, one-to-one over IAM names, prefixed by the member account, at most 80 characters', () => {
    const day = new Date('2026-06-30T23:59:59Z');

    assert.equal(executionName('build-bot', day), 'build-bot-20260630');
    assert.equal(executionName('a.b', day), 'a_2eb-20260630');
    assert.notEqual(executionName('a_b', day), executionName('a.b', day));
    assert.equal(executionName('build-bot', day, 2), 'build-bot-20260630-2');
    assert.equal(executionName('build-bot', day, 1, '444455556666'), '444455556666-build-bot-20260630');
    const long = 'x'.repeat(30) + '+='.repeat(17);
    assert.ok(executionName(long, day, 20, '444455556666').length <= 80);
    assert.notEqual(executionName(`${long}a`, day), executionName(`${long}b`, day));
  });
});

describe('scanAccounts', () => {
  it('scans every other account when one member has no role to assume, and names the one it could not scan', async () => {
    const iam = mockClient(IAMClient);
    const sts = mockClient(STSClient);
    sts.on(GetCallerIdentityCommand).resolves({ Account: '111122223333' });
    sts
      .on(AssumeRoleCommand)
      .rejects(Object.assign(new Error('not authorized to assume KeyrotMember'), { name: 'AccessDenied' }));
    iam.on(GenerateCredentialReportCommand).resolves({ State: 'COMPLETE' });
    const csv = [HEADER, line('old', [[true, 120, 1]])].join('\n');
    iam.on(GetCredentialReportCommand).resolves({ Content: new TextEncoder().encode(csv), ReportFormat: 'text/csv' });
    iam.on(ListUserTagsCommand).resolves({ Tags: [] });

    const scanned = await scanAccounts(
      { iam: new IAMClient({}), sts: new STSClient({}) },
      { accounts: ['444455556666'], roleName: 'KeyrotMember', externalId: 'ext-1' },
      rules,
    );

    assert.deepEqual(
      scanned.users.map((user) => [user.account, user.user, user.verdict]),
      [['111122223333', 'old', 'DUE']],
    );
    assert.deepEqual(scanned.unscanned, [
      { account: '444455556666', reason: 'AccessDenied: not authorized to assume KeyrotMember' },
    ]);
    iam.restore();
    sts.restore();
  });
});
