import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { describe, it } from '@jest/globals';
import { synthesize, type Template } from '../support/permissions';

/**
 * Every context setting the README documents changes the synthesized template where it
 * should. A setting that is documented but not wired (keyrot:approvers was) fails here.
 */

const README = readFileSync(path.resolve(import.meta.dirname, '../../README.md'), 'utf8');
const MEMBER = { 'keyrot:keyrotAccount': '123456789012', 'keyrot:externalId': 'x-1' };

/** The two templates of a synth with these settings, as JSON text and parsed. */
function synth(context: Record<string, string> = {}) {
  const synthesized = synthesize({ name: 'settings', context: { ...MEMBER, ...context } });
  return { stack: synthesized.template, member: synthesized.member as Template };
}
const base = synth();

/** The resources of a template of a type, each as JSON text. */
function texts(template: Template, type: string): string[] {
  return Object.values(template.Resources)
    .filter((resource) => resource.Type === type)
    .map((resource) => JSON.stringify(resource.Properties));
}
const env = (template: Template, name: string): unknown[] =>
  Object.values(template.Resources)
    .map((resource) => (resource.Properties?.Environment as { Variables?: Record<string, unknown> })?.Variables?.[name])
    .filter((value) => value !== undefined);

/** Each documented setting and the proof that it reaches the template. */
const WIRED: Record<string, (changed: ReturnType<typeof synth>) => void> = {
  'keyrot:userPath': ({ stack, member }) => {
    assert.ok(texts(stack, 'AWS::IAM::Policy').some((text) => text.includes(':user/svc-accounts/*')));
    assert.ok(texts(member, 'AWS::IAM::Policy').some((text) => text.includes(':user/svc-accounts/*')));
    assert.ok(env(stack, 'KEYROT_USER_PATH').includes('/svc-accounts/'));
  },
  'keyrot:userTag': ({ stack, member }) => {
    assert.ok(texts(stack, 'AWS::IAM::Policy').some((text) => text.includes('iam:ResourceTag/team:managed')));
    assert.ok(texts(member, 'AWS::IAM::Policy').some((text) => text.includes('iam:ResourceTag/team:managed')));
    assert.ok(env(stack, 'KEYROT_USER_TAG').includes('team:managed'));
  },
  'keyrot:secretPrefix': ({ stack, member }) => {
    assert.ok(texts(stack, 'AWS::IAM::Policy').some((text) => text.includes(':secret:rotated/*')));
    assert.ok(texts(member, 'AWS::IAM::Policy').some((text) => text.includes(':secret:rotated/*')));
    assert.ok(env(stack, 'KEYROT_SECRET_PREFIX').includes('rotated/'));
  },
  'keyrot:approvalTimeoutSeconds': ({ stack }) => {
    assert.ok(
      texts(stack, 'AWS::StepFunctions::StateMachine').some((text) => text.includes('\\"TimeoutSeconds\\":3600')),
    );
  },
  'keyrot:archiveRetentionDays': ({ stack }) => {
    assert.ok(texts(stack, 'AWS::S3::Bucket').some((text) => text.includes('"Days":3650')));
    assert.ok(env(stack, 'KEYROT_ARCHIVE_RETENTION_DAYS').includes('3650'));
  },
  'keyrot:approvers': ({ stack }) => {
    assert.deepEqual(env(stack, 'KEYROT_APPROVERS'), ['alice,bob']);
  },
  'keyrot:accounts': ({ stack }) => {
    assert.ok(env(stack, 'KEYROT_ACCOUNTS').includes('444455556666'));
    assert.ok(texts(stack, 'AWS::IAM::Policy').some((text) => text.includes('444455556666:role/KeyrotMember')));
  },
  'keyrot:externalId': ({ stack, member }) => {
    assert.ok(env(stack, 'KEYROT_EXTERNAL_ID').includes('ext-42'));
    assert.ok(texts(member, 'AWS::IAM::Role').some((text) => text.includes('"sts:ExternalId":"ext-42"')));
  },
  'keyrot:scanSchedule': ({ stack }) => {
    assert.ok(texts(stack, 'AWS::Scheduler::Schedule').some((text) => text.includes('cron(30 2 * * ? *)')));
  },
  'keyrot:scanConcurrency': ({ stack }) => {
    assert.ok(texts(stack, 'AWS::StepFunctions::StateMachine').some((text) => text.includes('\\"startsAtOnce\\":3')));
  },
  'keyrot:keyrotAccount': ({ member }) => {
    assert.ok(texts(member, 'AWS::IAM::Role').some((text) => text.includes(':iam::210987654321:root')));
  },
};

/** The value each setting is changed to. */
const VALUES: Record<string, string> = {
  'keyrot:userPath': '/svc-accounts/',
  'keyrot:userTag': 'team:managed',
  'keyrot:secretPrefix': 'rotated/',
  'keyrot:approvalTimeoutSeconds': '3600',
  'keyrot:archiveRetentionDays': '3650',
  'keyrot:approvers': 'alice,bob',
  'keyrot:accounts': '444455556666',
  'keyrot:externalId': 'ext-42',
  'keyrot:scanSchedule': 'cron(30 2 * * ? *)',
  'keyrot:scanConcurrency': '3',
  'keyrot:keyrotAccount': '210987654321',
};

describe('documented settings', () => {
  it('are each proven wired below: nothing the README documents is left out', () => {
    // Settings given on a command line (`-c keyrot:userPath=...`) and those in the Deploy list.
    const documented = [
      ...new Set([...README.matchAll(/-c (keyrot:[a-z][A-Za-z]+)=/g)].map((match) => match[1] as string)),
    ];
    assert.ok(documented.length >= 5, `settings found in the README: ${documented.join(', ')}`);
    const listed = README.match(/Context settings:([\s\S]*?)\n\n/)?.[1] ?? '';
    const all = [...new Set([...documented, ...(listed.match(/keyrot:[a-z][A-Za-z]+/g) ?? [])])];
    assert.deepEqual(
      all.filter((name) => !WIRED[name]),
      [],
      'documented settings without a test here',
    );
  });

  for (const [name, check] of Object.entries(WIRED)) {
    it(`changes the template where it should: ${name}`, () => {
      // The external id reaches the keyrot stack only together with member accounts.
      const alongside: Record<string, string> =
        name === 'keyrot:externalId' ? { 'keyrot:accounts': '444455556666' } : {};
      const changed = synth({ ...alongside, [name]: VALUES[name] as string });

      check(changed);
      assert.throws(() => check(base), `${name}'s proof must fail on the default template`);
    });
  }
});
