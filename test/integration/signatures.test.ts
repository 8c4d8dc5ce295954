import assert from 'node:assert/strict';
import { createPublicKey, verify } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, it } from '@jest/globals';
import {
  AdminSetUserPasswordCommand,
  CognitoIdentityProviderClient,
  GetUserCommand,
  InitiateAuthCommand,
  ListUserPoolsCommand,
  UpdateUserAttributesCommand,
} from '@aws-sdk/client-cognito-identity-provider';
import { CreateKeyCommand, GetPublicKeyCommand, KMSClient, SignCommand } from '@aws-sdk/client-kms';
import { CreateBucketCommand, GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import type { ChainEntry } from '../../handlers/domain/archive';
import type { ExecutionRecord, HistoryEvent } from '../../handlers/domain/execution-record';
import { summarize } from '../../handlers/domain/outcome';
import { canonicalJson, sha256Hex } from '../../handlers/shared/digest';
import type { Signature } from '../../handlers/shared/schemas';
import type { LocalExecution, LocalTaskTokens } from '../../local/engine';
import { asHandler } from '../../local/ledger';
import { rotationAtGate, type Waiting } from '../support/approval-gate';
import { cliSession } from '../support/cli';
import { LocalAws } from '../support/local-aws';
import { runRotation } from '../support/rotation-runner';

let aws: LocalAws;
let tokens: LocalTaskTokens;
let server: { url: string; stop: () => Promise<void> };
let kms: KMSClient;
let genuine: Signature;
let approvedRun: LocalExecution;
/** Another SIGN_VERIFY key in the same account: not keyrot's. */
let otherKey: string;
const cli = cliSession(() => aws);
const ctx = (name: string) => ({ awsRequestId: name, functionName: name }) as never;

function post(waiting: Waiting, fields: Record<string, string>) {
  return fetch(waiting.link, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ csrf: waiting.csrf, meaning: 'APPROVED', reason: 'CR-7 reviewed', ...fields }),
    signal: AbortSignal.timeout(120_000),
  });
}

/** A forger's edit: change fields and recompute the SHA-256 (anyone can), keeping the old KMS signature. */
function edited(signature: Signature, changes: Partial<Signature>): Signature {
  const changed = { ...signature, ...changes };
  const { digest: _digest, kmsSignature: _signature, ...manifest } = changed;
  return { ...changed, digest: sha256Hex(canonicalJson(manifest)) };
}

/** A manifest signed by a KMS key that is not keyrot's, claiming to be keyrot's. */
async function signedElsewhere(signature: Signature, changes: Partial<Signature>): Promise<Signature> {
  const forged = edited(signature, changes);
  const { digest: _digest, kmsSignature: _signature, ...manifest } = forged;
  const signed = await kms.send(
    new SignCommand({
      KeyId: otherKey,
      Message: Buffer.from(canonicalJson(manifest)),
      MessageType: 'RAW',
      SigningAlgorithm: 'ECDSA_SHA_256',
    }),
  );
  return { ...forged, kmsSignature: Buffer.from(signed.Signature ?? []).toString('base64') };
}

/** Every way to forge a signature the brief names, with what each check must say. */
async function forgeries(): Promise<{ name: string; signature: Signature; refusal: RegExp }[]> {
  const notVerified = /its KMS signature does not verify/;
  return [
    { name: 'no record', signature: edited(genuine, { approvalId: '0'.repeat(32) }), refusal: notVerified },
    { name: 'an edited field', signature: edited(genuine, { reason: 'approved, trust me' }), refusal: notVerified },
    {
      name: 'another signer',
      signature: edited(genuine, { signer: 'Ira Tanaka (System Owner)', signerId: 'system-owner' }),
      refusal: notVerified,
    },
    {
      name: 'another key id',
      signature: edited(genuine, { signingKeyId: otherKey }),
      refusal: /names the signing key arn:aws:kms:.*, not arn:aws:kms:/,
    },
    {
      name: 'another execution',
      signature: edited(genuine, { executionId: `${genuine.executionId}-other` }),
      refusal: notVerified,
    },
    {
      name: 'a signature from another KMS key',
      signature: await signedElsewhere(genuine, { reason: 'signed with my own key' }),
      refusal: notVerified,
    },
  ];
}

describe('KMS-signed approval signatures', () => {
  beforeAll(async () => {
    aws = await LocalAws.start();
    kms = new KMSClient({ endpoint: aws.moto.endpoint, region: 'us-east-1', credentials: aws.operator });
    const engine = await import('../../local/engine');
    tokens = new engine.LocalTaskTokens();
    const { startApprovalServer } = await import('../../local/approval-server');
    server = await startApprovalServer(tokens);
    const other = await kms.send(
      new CreateKeyCommand({ KeyUsage: 'SIGN_VERIFY', KeySpec: 'ECC_NIST_P256', Description: 'not keyrot' }),
    );
    otherKey = other.KeyMetadata?.Arn ?? '';

    const waiting = await rotationAtGate({ aws, tokens, serverUrl: server.url }, 'signed-user');
    const signed = await post(waiting, { username: 'quality-approver', password: 'Demo-Approver-1!' });
    assert.equal(signed.status, 200, await signed.text());
    approvedRun = await waiting.run;
    assert.equal(approvedRun.status, 'SUCCEEDED', `${approvedRun.error} ${approvedRun.cause}`);
    genuine = (await waiting.record()).signature as Signature;
  });
  afterAll(async () => {
    await server?.stop();
    await aws?.stop();
  });

  it('signs the canonical manifest with the KMS key; it verifies offline with the key GetPublicKey returns', async () => {
    const { digest, kmsSignature, ...manifest } = genuine;
    const { PublicKey } = await kms.send(new GetPublicKeyCommand({ KeyId: process.env.KEYROT_SIGNING_KEY_ID }));
    const publicKey = createPublicKey({ key: Buffer.from(PublicKey ?? []), format: 'der', type: 'spki' });
    const bytes = Buffer.from(canonicalJson(manifest));

    assert.equal(verify('sha256', bytes, publicKey, Buffer.from(kmsSignature, 'base64')), true);
    assert.equal(digest, sha256Hex(bytes));
    assert.equal(manifest.signingKeyId, process.env.KEYROT_SIGNING_KEY_ID);
    assert.equal(manifest.signingAlgorithm, 'ECDSA_SHA_256');
    assert.equal(manifest.executionId, approvedRun.executionArn);
    assert.equal(manifest.signer, 'Quinn Avery (QA Lead)');
    assert.match(manifest.signerSub, /^[0-9a-f-]{36}$/);
    const edited = Buffer.from(canonicalJson({ ...manifest, reason: 'something else' }));
    assert.equal(verify('sha256', edited, publicKey, Buffer.from(kmsSignature, 'base64')), false);
  });

  it('check-approval accepts the genuine signature and refuses every forgery as ForgedSignature', async () => {
    const { handler } = await import('../../handlers/check-approval');
    const expected = {
      gate: 'DELETION',
      executionId: genuine.executionId,
      keyIds: genuine.keyIds,
    };
    const accepted = await asHandler('check-approval', () =>
      handler({ signature: genuine, ...expected } as never, ctx('check-approval')),
    );
    assert.deepEqual(accepted, genuine);

    for (const forgery of await forgeries()) {
      await assert.rejects(
        asHandler(
          'check-approval',
          () => handler({ signature: forgery.signature, ...expected } as never, ctx('check')) as never,
        ),
        (error: Error) => error.name === 'ForgedSignature' && forgery.refusal.test(error.message),
        forgery.name,
      );
    }
    // A genuine signature copied to another execution verifies, but names the wrong execution.
    await assert.rejects(
      asHandler('check-approval', () =>
        handler({ signature: genuine, ...expected, executionId: `${genuine.executionId}-2` } as never, ctx('check')),
      ),
      { name: 'InvalidApproval', message: /signed for another execution/ },
    );
  });

  it('stops a rotation at Deactivate Old Key when the signature it gets is forged: nothing is deactivated', async () => {
    await aws.seedUser('forged-user');
    const [oldKey] = await aws.keys('forged-user');
    const execution = await runRotation(
      { userName: 'forged-user', force: true, config: { validationMode: 'none' } },
      {
        // As if check-approval had been bypassed, or the state edited between the two steps.
        around: async (name, invoke) => {
          const result = await invoke();
          return name === 'check-approval' ? edited(result as Signature, { reason: 'approved, trust me' }) : result;
        },
      },
    );

    const failures = execution.events.filter((event) => event.type === 'LambdaFunctionFailed');
    const deactivate = failures.map(
      (event) => event.lambdaFunctionFailedEventDetails as { error: string; cause: string },
    );
    assert.ok(
      deactivate.some((failure) => failure.error === 'ForgedSignature'),
      JSON.stringify(deactivate).slice(0, 800),
    );
    assert.equal(summarize(execution.events).outcome, 'ROLLED_BACK');
    assert.deepEqual(await aws.keys('forged-user'), [{ id: oldKey?.id, status: 'Active' }]);
    assert.equal((await aws.secretKey('forged-user'))?.accessKeyId, oldKey?.id);
  });

  it('deactivate-key and delete-key refuse every forgery before any change; the genuine one gets past the check', async () => {
    const scheduled = approvedRun.events.filter((event) => event.type === 'LambdaFunctionScheduled');
    const stateAt = (state: string) => {
      const entered = approvedRun.events.findIndex(
        (event) =>
          event.type === 'TaskStateEntered' && (event.stateEnteredEventDetails as { name: string }).name === state,
      );
      const event = scheduled.find((candidate) => candidate.id > (approvedRun.events[entered] as HistoryEvent).id);
      return JSON.parse((event?.lambdaFunctionScheduledEventDetails as { input: string }).input) as Record<
        string,
        unknown
      >;
    };
    const { handler: deactivate } = await import('../../handlers/deactivate-key');
    const { handler: remove } = await import('../../handlers/delete-key');
    // The rotated user's state, pointed at a user whose old key is still there.
    await aws.seedUser('victim-user');
    const [victimKey] = await aws.keys('victim-user');
    for (const [name, handler, state] of [
      ['deactivate-key', deactivate, stateAt('Deactivate Old Key')],
      ['delete-key', remove, stateAt('Delete Old Key')],
    ] as const) {
      const target = {
        ...state,
        userName: 'victim-user',
        secretId: 'keyrot/victim-user',
        detection: { ...(state.detection as object), oldKeyId: victimKey?.id },
      };
      for (const forgery of await forgeries()) {
        const signature = forgery.signature;
        await assert.rejects(
          asHandler(name, () => handler({ ...target, deletionApproval: signature } as never, ctx(name)) as never),
          (error: Error) => error.name === 'ForgedSignature',
          `${name}: ${forgery.name}`,
        );
      }
      // Bound to the rotated user's keys, the genuine signature passes the signature check and
      // is refused on what it names: the discrimination is the signature's, not the handler's.
      await assert.rejects(
        asHandler(name, () => handler({ ...target, deletionApproval: genuine } as never, ctx(name)) as never),
        { name: 'InvalidApproval', message: /does not name these keys/ },
      );
    }
    assert.deepEqual(await aws.keys('victim-user'), [{ id: victimKey?.id, status: 'Active' }]);
  });

  it('prints the name from the directory, not the one an approver wrote into Cognito with their own token', async () => {
    const cognito = new CognitoIdentityProviderClient({
      endpoint: aws.moto.endpoint,
      region: 'us-east-1',
      credentials: aws.operator,
    });
    const auth = await cognito.send(
      new InitiateAuthCommand({
        AuthFlow: 'USER_PASSWORD_AUTH',
        ClientId: process.env.KEYROT_APPROVER_CLIENT_ID,
        AuthParameters: { USERNAME: 'system-owner', PASSWORD: 'Demo-Approver-2!' },
      }),
    );
    const AccessToken = auth.AuthenticationResult?.AccessToken;
    const hostile = 'Quinn Avery (QA Lead)<img src=x onerror=alert(3)>';
    // moto answers UpdateUserAttributes with a 500 while it checks signatures (its auth code, not
    // Cognito's rules): the approver's own call is made with checks off for that one request.
    await fetch(`${aws.moto.endpoint}/moto-api/reset-auth`, { method: 'POST', body: 'inf' });
    try {
      await cognito.send(
        new UpdateUserAttributesCommand({ AccessToken, UserAttributes: [{ Name: 'name', Value: hostile }] }),
      );
    } finally {
      await aws.moto.enableAuth();
    }
    const written = await cognito.send(new GetUserCommand({ AccessToken }));
    assert.equal(
      written.UserAttributes?.find((attribute) => attribute.Name === 'name')?.Value,
      hostile,
      'moto took it',
    );

    const waiting = await rotationAtGate({ aws, tokens, serverUrl: server.url }, 'renamed-user');
    const signed = await post(waiting, { username: 'system-owner', password: 'Demo-Approver-2!' });
    const page = await signed.text();
    await waiting.run;

    assert.equal(signed.status, 200, page);
    const signature = (await waiting.record()).signature as Signature;
    assert.equal(signature.signer, 'Ira Tanaka (System Owner)');
    assert.equal(signature.signerId, 'system-owner');
    assert.equal(signature.signerSub, written.UserAttributes?.find((attribute) => attribute.Name === 'sub')?.Value);
    assert.equal(page.includes('onerror'), false);
    assert.match(page, /Ira Tanaka \(System Owner\)/);
  });

  it('keeps an approver linked to an IAM principal from approving what that principal requested, or its own key', async () => {
    const principal = 'arn:aws:iam::123456789012:user/alice-ops';
    const added = await cli.keyrot(
      'approvers',
      'add',
      'alice',
      '--name',
      'Alice Ops (Operations)',
      '--email',
      'alice@example.com',
      '--principal',
      principal,
      '--local',
    );
    assert.equal(added.code, 0, added.stderr);
    assert.match(added.stdout, /recorded in keyrot's approver directory/);
    const cognito = new CognitoIdentityProviderClient({
      endpoint: aws.moto.endpoint,
      region: 'us-east-1',
      credentials: aws.operator,
    });
    const pools = await cognito.send(new ListUserPoolsCommand({ MaxResults: 10 }));
    const UserPoolId = pools.UserPools?.[0]?.Id;
    await cognito.send(
      new AdminSetUserPasswordCommand({
        UserPoolId,
        Username: 'alice',
        Password: 'Alice-Approver-9!',
        Permanent: true,
      }),
    );
    const allowed = process.env.KEYROT_APPROVERS;
    process.env.KEYROT_APPROVERS = `${allowed},alice`;
    try {
      const alice = { username: 'alice', password: 'Alice-Approver-9!' };
      // alice-ops is an IAM user of its own (whose key one rotation here rotates): its
      // credentials sign the requester's proof of by-alice.
      const own = await rotationAtGate({ aws, tokens, serverUrl: server.url }, 'alice-ops');
      const aliceOps = (await aws.secretKey('alice-ops'))!;
      const requested = await rotationAtGate(
        { aws, tokens, serverUrl: server.url },
        'by-alice',
        {},
        undefined,
        aliceOps,
      );
      const plain = await rotationAtGate({ aws, tokens, serverUrl: server.url }, 'not-alices');

      const answers = {
        requested: await post(requested, alice),
        own: await post(own, alice),
        plain: await post(plain, alice),
      };

      // Refused as a wrong password is (no oracle); the record keeps why.
      assert.equal((await requested.record()).requestedBy, principal);
      assert.equal(answers.requested.status, 401);
      assert.match((await requested.record()).failedSignIns?.at(-1)?.why ?? '', /you requested this rotation/);
      assert.equal(answers.own.status, 401);
      assert.match((await own.record()).failedSignIns?.at(-1)?.why ?? '', /your own access key/);
      assert.equal(answers.plain.status, 200, await answers.plain.text());
      assert.equal(((await plain.record()).signature as Signature).signer, 'Alice Ops (Operations)');
      for (const waiting of [requested, own]) {
        await post(waiting, { username: 'quality-approver', password: 'Demo-Approver-1!', meaning: 'REJECTED' });
      }
      await Promise.all([requested.run, own.run, plain.run]);
    } finally {
      process.env.KEYROT_APPROVERS = allowed;
    }
  });

  describe('keyrot verify and keyrot audit, offline with the exported public key', () => {
    let s3: S3Client;
    let pem: string;
    let buckets = 0;
    const offline = { KEYROT_SIGNING_KEY_ID: undefined };

    /** Archive the approved run into a new bucket; with `signature`, put that one in its record (chain re-digested). */
    async function archived(signature?: Signature): Promise<string> {
      const { archiveExecution, entryDigest, chainKey } = await import('../../handlers/domain/archive');
      const { clients } = await import('../../handlers/shared/clients');
      const { recordOf } = await import('../../local/engine');
      const bucket = `signed-evidence-${(buckets += 1)}`;
      await s3.send(new CreateBucketCommand({ Bucket: bucket, ObjectLockEnabledForBucket: true }));
      await archiveExecution(clients, { bucket, retentionDays: 1 }, recordOf(approvedRun));
      if (!signature) return bucket;
      const read = async (key: string) =>
        (await (await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }))).Body?.transformToString()) ?? '';
      const key = chainKey('123456789012', 'signed-user', 1);
      const entry = JSON.parse(await read(key)) as ChainEntry;
      const record = JSON.parse(await read(entry.recordKey)) as ExecutionRecord;
      const events = record.events.map((event) =>
        event.type === 'TaskSucceeded'
          ? { ...event, taskSucceededEventDetails: { output: JSON.stringify(signature) } }
          : event,
      );
      const body = canonicalJson({ ...record, events });
      await s3.send(new PutObjectCommand({ Bucket: bucket, Key: entry.recordKey, Body: body }));
      const { digest: _digest, ...fields } = { ...entry, recordSha256: sha256Hex(body) };
      await s3.send(
        new PutObjectCommand({
          Bucket: bucket,
          Key: key,
          Body: canonicalJson({ ...fields, digest: entryDigest(fields) }),
        }),
      );
      return bucket;
    }

    beforeAll(async () => {
      s3 = new S3Client({
        endpoint: aws.moto.endpoint,
        region: 'us-east-1',
        credentials: aws.operator,
        forcePathStyle: true,
      });
      const exported = await cli.keyrot('public-key');
      assert.equal(exported.code, 0, exported.stderr);
      pem = path.join(mkdtempSync(path.join(tmpdir(), 'keyrot-pem-')), 'keyrot-signing.pem');
      writeFileSync(pem, exported.stdout);
    });

    it('exports the signing public key as PEM; verify and audit pass the genuine signature with it, no KMS needed', async () => {
      const { PublicKey } = await kms.send(new GetPublicKeyCommand({ KeyId: process.env.KEYROT_SIGNING_KEY_ID }));
      const fromKms = createPublicKey({ key: Buffer.from(PublicKey ?? []), format: 'der', type: 'spki' });
      assert.equal(
        createPublicKey({ key: (await import('node:fs')).readFileSync(pem, 'utf8'), format: 'pem' })
          .export({ type: 'spki', format: 'der' })
          .equals(fromKms.export({ type: 'spki', format: 'der' })),
        true,
      );
      const bucket = await archived();

      const verified = await cli.keyrot('verify', '--bucket', bucket, '--public-key', pem, offline);
      const audit = await cli.keyrot(
        'audit',
        approvedRun.executionArn,
        '--from',
        'archive',
        '--bucket',
        bucket,
        '--public-key',
        pem,
        offline,
      );
      const unchecked = await cli.keyrot('verify', '--bucket', bucket, offline);

      assert.equal(verified.code, 0, verified.stdout + verified.stderr);
      assert.match(verified.stdout, /^verified: 1 chain\(s\)/m);
      assert.equal(audit.code, 0, audit.stderr);
      assert.match(audit.stdout, /verified: KMS signature by arn:aws:kms:/);
      assert.equal(unchecked.code, 8, 'without a public key no signature verifies');
      assert.match(unchecked.stdout, /its KMS signature was not checked: no public key/);
    });

    for (const which of [
      'no record',
      'an edited field',
      'another signer',
      'another key id',
      'another execution',
      'a signature from another KMS key',
    ]) {
      it(`keyrot verify --public-key and keyrot audit say FORGED for ${which}`, async () => {
        const forgery = (await forgeries()).find((candidate) => candidate.name === which)!;
        const bucket = await archived(forgery.signature);

        const verified = await cli.keyrot('verify', '--bucket', bucket, '--public-key', pem, offline);
        const audit = await cli.keyrot(
          'audit',
          approvedRun.executionArn,
          '--from',
          'archive',
          '--bucket',
          bucket,
          '--public-key',
          pem,
          offline,
        );

        assert.equal(verified.code, 8, verified.stdout);
        assert.match(
          verified.stdout,
          /TAMPERED .*: FORGED signature at Approve Deletion: its KMS signature does not verify/,
        );
        assert.equal(audit.code, 8);
        assert.match(audit.stdout, /FORGED: its KMS signature does not verify/);
        assert.match(audit.stderr, /1 signature\(s\) do NOT verify \(1 FORGED\)/);
      });
    }
  });
});
