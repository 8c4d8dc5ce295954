import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { beforeAll, describe, it } from '@jest/globals';
import type { LedgerEntry } from '../../local/ledger';
import {
  VARIANTS,
  deployedCalls,
  evaluateCall,
  readLedger,
  synthesize,
  type DeployedCall,
  type Synthesized,
} from '../support/permissions';

/**
 * The call ledger of every integration run in this `npm test` (rotation branches, faults, the
 * fault matrix, scan, approvals, archive, the CLI), evaluated against each handler's role as
 * synthesized, for every documented synth variant, with the resource policies involved. This
 * runs after the integration tests (scripts/test.sh), which write the ledger.
 */

const ROOT = path.resolve(import.meta.dirname, '../..');
const LEDGER = process.env.KEYROT_LEDGER_DIR ?? path.join(ROOT, 'test-artifacts', 'ledger');
const CALLS_FILE = path.join(ROOT, 'infra', 'handler-calls.json');

/**
 * Grants no recorded call uses, each with the reason it stays. Anything else unused fails:
 * remove it from the stack, or say here why it must stay.
 */
const KEPT: { action: RegExp; handlers?: RegExp; reason: string }[] = [
  {
    action: /^logs:(CreateLogGroup|CreateLogStream|PutLogEvents)$/,
    reason: 'The Lambda runtime writes the function’s logs (AWSLambdaBasicExecutionRole), not the handler code.',
  },
  {
    action: /^xray:(PutTraceSegments|PutTelemetryRecords)$/,
    reason: 'Active tracing: the Lambda runtime sends the trace segments, not the handler code.',
  },
  {
    action: /^kms:GetPublicKey$/,
    handlers: /^(deactivate-key|delete-key)$/,
    reason:
      'The public key is cached per process (signing.ts): locally one process runs every step, so check-approval’s fetch serves the later steps; deployed each function fetches its own.',
  },
  {
    action: /^sqs:SendMessage$/,
    handlers: /^archive-execution$/,
    reason: 'The Lambda service sends a failed asynchronous invocation to the on-failure queue with this role.',
  },
  {
    action: /^sqs:(GetQueueAttributes|GetQueueUrl)$/,
    handlers: /^archive-execution$/,
    reason: 'Part of the send grant CDK writes for an on-failure queue; the Lambda service may look the queue up.',
  },
  {
    action: /^states:(SendTaskSuccess|SendTaskFailure)$/,
    handlers: /^approval-api$/,
    reason:
      'Locally the engine’s own token store resumes a gate, not Step Functions; the deployed path is proven in test/infra/service-paths.test.ts.',
  },
  {
    action: /^secretsmanager:GetSecretValue$/,
    handlers: /^approval-api$/,
    reason:
      'The link key is read once per process: locally request-approval has read it already, deployed each function reads its own.',
  },
  {
    action: /^secretsmanager:(CreateSecret|TagResource)$/,
    handlers: /^create-key$/,
    reason:
      'A user whose secret does not exist yet gets one at its first rotation; no integration run seeds such a user.',
  },
  {
    action: /^secretsmanager:DeleteSecret$/,
    handlers: /^roll-back$/,
    reason: 'Rolling back such a first rotation deletes the secret it created; no integration run reaches it.',
  },
  {
    action: /^sts:AssumeRole$/,
    reason: 'Only made with member accounts configured; evaluated in those variants, unused in the others.',
  },
  {
    action: /^organizations:ListAccounts$/,
    handlers: /^scan-fleet$/,
    reason: 'Organizations mode lists the member accounts; no local run has an organization.',
  },
];

/** Handlers that make no AWS call (none today: check-approval reads the public key to verify with). */
const NO_CALLS: string[] = [];

let ledger: LedgerEntry[];
const synths: Synthesized[] = [];
const used = new Map<string, DeployedCall[]>();

beforeAll(() => {
  ledger = readLedger(LEDGER);
  for (const variant of VARIANTS) synths.push(synthesize(variant));
});

/** Each distinct deployed call once: same handler, action and resource evaluate the same. */
function distinct(synth: Synthesized): DeployedCall[] {
  const seen = new Map<string, DeployedCall>();
  for (const entry of ledger) {
    for (const call of deployedCalls(entry, synth)) {
      seen.set(`${call.role}|${call.handler}|${call.action}|${call.resource}|${JSON.stringify(call.context)}`, call);
    }
  }
  return [...seen.values()];
}

/** Evaluate every call of a variant; the denials, each named so a reader can act on it. */
async function denials(synth: Synthesized, calls: DeployedCall[]): Promise<string[]> {
  const denied: string[] = [];
  for (const call of calls) {
    const verdict = await evaluateCall(call, synth);
    if (!verdict.allowed) {
      const who = call.role === 'member' ? `${call.handler} (through KeyrotMember)` : call.handler;
      const why = call.impliedBy ? ` (KMS behind ${call.impliedBy})` : '';
      denied.push(`[${synth.variant.name}] ${who} may not ${call.action} on ${call.resource}${why}: ${verdict.result}`);
    }
  }
  return denied;
}

describe('the call ledger against the synthesized roles', () => {
  it('was recorded by the integration runs, for every Lambda of the stack, and holds no secret', () => {
    assert.ok(
      ledger.length > 1000,
      `the ledger in ${LEDGER} has ${ledger.length} calls: run the integration tests first (npm test does)`,
    );
    const handlers = new Set(ledger.map((entry) => entry.handler));
    const missing = Object.keys(synths[0]!.functions).filter((name) => !handlers.has(name) && !NO_CALLS.includes(name));
    assert.deepEqual(missing, [], `no recorded call from ${missing.join(', ')}`);
    for (const name of NO_CALLS) assert.ok(!handlers.has(name), `${name} was thought to make no AWS call`);
    const text = JSON.stringify(ledger);
    assert.doesNotMatch(text, /"SecretAccessKey"|"SecretString"|"secretAccessKey"/);
    const pairs = new Set(ledger.map((entry) => `${entry.handler} ${entry.action}`));
    console.log(`ledger: ${ledger.length} calls, ${pairs.size} distinct handler/action pairs`);
  });

  for (const [index, variant] of VARIANTS.entries()) {
    it(`allows every recorded call in the ${variant.name} variant`, async () => {
      const synth = synths[index]!;
      const calls = distinct(synth);
      used.set(variant.name, calls);
      const denied = await denials(synth, calls);
      console.log(`${variant.name}: ${calls.length} distinct calls evaluated, ${denied.length} denied`);
      assert.deepEqual(denied, [], `denied:\n${denied.join('\n')}`);
    });
  }

  it('leaves no grant unused without a reason', () => {
    const unused: string[] = [];
    for (const [index, synth] of synths.entries()) {
      const calls = used.get(VARIANTS[index]!.name) ?? distinct(synth);
      for (const [handler, { roleId }] of Object.entries(synth.functions)) {
        const mine = calls.filter((call) => call.handler === handler && call.role === 'handler');
        for (const action of grantedActions(synth, roleId)) {
          const pattern = new RegExp(`^${action.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*')}$`);
          if (mine.some((call) => pattern.test(call.action))) continue;
          if (KEPT.some((kept) => kept.action.test(action) && (!kept.handlers || kept.handlers.test(handler))))
            continue;
          unused.push(`[${synth.variant.name}] ${handler}: ${action}`);
        }
      }
    }
    assert.deepEqual([...new Set(unused)], [], 'grants no call used: remove them, or give each a reason in KEPT');
  });

  it('lists each handler’s calls for keyrot doctor as they were recorded', () => {
    const calls: Record<string, { action: string; resource: string }[]> = {};
    const synth = synths[0]!;
    for (const call of used.get(VARIANTS[0]!.name) ?? distinct(synth)) {
      const list = (calls[call.handler] ??= []);
      if (!list.some((known) => known.action === call.action && known.resource === call.kind))
        list.push({ action: call.action, resource: call.kind });
    }
    const sorted = Object.fromEntries(
      Object.keys(calls)
        .sort()
        .map((handler) => [
          handler,
          (calls[handler] ?? []).sort((a, b) => `${a.action}${a.resource}`.localeCompare(`${b.action}${b.resource}`)),
        ]),
    );
    const text = `${JSON.stringify(sorted, null, 2)}\n`;
    if (process.env.KEYROT_UPDATE_CALLS) writeFileSync(CALLS_FILE, text);
    assert.equal(
      readFileSync(CALLS_FILE, 'utf8'),
      text,
      'infra/handler-calls.json differs from the recorded calls: rerun with KEYROT_UPDATE_CALLS=1 after npm test',
    );
  });
});

describe('the evaluation itself', () => {
  /** The default variant with one change made to a copy of its template. */
  function mutated(change: (synth: Synthesized) => void): Synthesized {
    const copy = structuredClone(synths[0]!);
    change(copy);
    return copy;
  }
  const callsOf = (synth: Synthesized, handler: string, action: string) =>
    distinct(synth).filter((call) => call.handler === handler && call.action === action);

  it('fails, naming handler, action, resource and variant, when a grant is removed from the role', async () => {
    const synth = mutated((copy) => {
      for (const resource of Object.values(copy.template.Resources)) {
        if (resource.Type !== 'AWS::IAM::Policy') continue;
        const document = resource.Properties?.PolicyDocument as { Statement: { Action: string | string[] }[] };
        for (const statement of document.Statement)
          statement.Action = [statement.Action].flat().filter((action) => action !== 'iam:CreateAccessKey');
      }
    });
    const calls = callsOf(synth, 'create-key', 'iam:CreateAccessKey');
    assert.ok(calls.length > 0);

    const denied = await denials(synth, calls);

    assert.equal(denied.length, calls.length);
    assert.match(
      denied[0]!,
      /^\[default\] create-key may not iam:CreateAccessKey on arn:aws:iam::\d{12}:user\/.+: ImplicitlyDenied$/,
    );
  });

  it('fails when the key policy no longer lets the account’s roles use the key', async () => {
    const synth = mutated((copy) => {
      const key = Object.values(copy.template.Resources).find((resource) => resource.Type === 'AWS::KMS::Key');
      const policy = key?.Properties?.KeyPolicy as { Statement: { Principal?: unknown }[] };
      policy.Statement = policy.Statement.filter((statement) => !JSON.stringify(statement.Principal).includes(':root'));
    });
    const calls = callsOf(synth, 'verify-key', 'kms:Decrypt');
    assert.ok(calls.length > 0, 'verify-key decrypts the secret it reads');

    const denied = await denials(synth, calls);

    assert.ok(denied.length > 0);
    assert.match(
      denied[0]!,
      /verify-key may not kms:Decrypt on arn:aws:kms:.+ \(KMS behind secretsmanager:GetSecretValue on the KMS-encrypted user-secret\)/,
    );
  });
});

/** Every action a role's policies allow (as written: `kms:GenerateDataKey*` stays a pattern). */
function grantedActions(synth: Synthesized, roleId: string): string[] {
  const actions = new Set<string>();
  for (const resource of Object.values(synth.template.Resources)) {
    if (resource.Type !== 'AWS::IAM::Policy') continue;
    const roles = (resource.Properties?.Roles as { Ref: string }[]) ?? [];
    if (!roles.some((ref) => ref.Ref === roleId)) continue;
    const document = resource.Properties?.PolicyDocument as {
      Statement: { Effect: string; Action: string | string[] }[];
    };
    for (const statement of document.Statement) {
      if (statement.Effect !== 'Allow') continue;
      for (const action of [statement.Action].flat()) actions.add(action);
    }
  }
  return [...actions];
}
