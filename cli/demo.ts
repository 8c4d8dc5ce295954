import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { mkdirSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { renderHtml } from '../audit/html';
import { replay } from '../audit/replay';
import { verifyArchive } from '../audit/verify';
import { verificationKey } from '../handlers/domain/signing';
import { clients, settings } from '../handlers/shared/clients';
import { findExecution, storeDir } from '../local/store';
import { startMoto } from '../local/moto';
import { seedKeyrotResources, seedUser, type LocalKey } from '../local/seed';
import type { Output } from './output';
import { localSource } from './executions';
import { rotate } from './rotate';

const DEMO_USER = 'demo-service';
const DAY_MS = 86_400_000;

/** Which identity a key signs as, or the error STS answers with. */
async function whoIs(endpoint: string, key: LocalKey): Promise<string> {
  const sts = new STSClient({ endpoint, region: 'us-east-1', credentials: key, maxAttempts: 1 });
  try {
    return (await sts.send(new GetCallerIdentityCommand({}))).Arn ?? 'unknown';
  } catch (error) {
    return `refused (${(error as Error).name})`;
  }
}

/**
 * A consumer of the secret, as a service would be: it reads AWSCURRENT and signs a request
 * with whatever key it finds there, so the workflow's last-used validation sees the switch.
 */
function startConsumer(endpoint: string, operator: LocalKey, out: Output): { stop: () => void } {
  const secrets = new SecretsManagerClient({ endpoint, region: 'us-east-1', credentials: operator });
  let using = '';
  let stopped = false;
  const loop = async () => {
    while (!stopped) {
      try {
        // The stage is named on purpose: moto 5.2 answers a stage-less read with the secret's
        // first version even after AWSCURRENT moved (AWS returns AWSCURRENT).
        const value = await secrets.send(
          new GetSecretValueCommand({ SecretId: `keyrot/${DEMO_USER}`, VersionStage: 'AWSCURRENT' }),
        );
        const key = JSON.parse(value.SecretString ?? '{}') as LocalKey;
        await whoIs(endpoint, key);
        if (key.accessKeyId !== using) {
          if (using) out.progress(`         consumer: switched to ${key.accessKeyId} (read from AWSCURRENT)`);
          using = key.accessKeyId;
        }
      } catch {
        // The secret may be between versions; the next round reads it again.
      }
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  };
  void loop();
  return { stop: () => (stopped = true) };
}

/**
 * `keyrot demo`: a full rotation on this machine with no AWS account. Starts moto on
 * 127.0.0.1, seeds a service user whose key lives in Secrets Manager, rotates it through the
 * synthesized workflow with the deletion gate auto-approved, and proves the result with STS.
 */
export async function demo(out: Output, options: { json: boolean }): Promise<number> {
  out.progress('keyrot demo: starting the local AWS (moto) on 127.0.0.1 ...');
  const moto = await startMoto({ progress: out.progress });
  let consumer: { stop: () => void } | undefined;
  try {
    const environment = await seedKeyrotResources(moto.endpoint);
    Object.assign(process.env, environment);
    const operator = { accessKeyId: environment.AWS_ACCESS_KEY_ID, secretAccessKey: environment.AWS_SECRET_ACCESS_KEY };
    const old = await seedUser(moto.endpoint, DEMO_USER, { onboard: true });
    await moto.enableAuth();
    out.progress(`  local AWS:  ${moto.endpoint} (signature checks on)`);
    out.progress(`  IAM user:   ${DEMO_USER}, key ${old.accessKeyId}, stored in secret keyrot/${DEMO_USER}`);
    consumer = startConsumer(moto.endpoint, operator, out);

    // moto cannot backdate a key, so the clock is an input: rotate "as of" 91 days from now.
    const asOf = new Date(Date.now() + 91 * DAY_MS).toISOString();
    out.progress(`  as of:      ${asOf} (the fresh demo key is 91 days old then; maximum 90)`);
    out.progress('  approvals:  the deletion gate is AUTO-APPROVED as "quality-approver" for this demo\n');
    const code = await rotate(
      DEMO_USER,
      {
        local: true,
        force: false,
        asOf,
        json: options.json,
        autoApprove: 'quality-approver',
        config: { validationMode: 'last-used', validationPollSeconds: 1, graceSeconds: 2 },
      },
      out,
    );

    const secrets = new SecretsManagerClient({ endpoint: moto.endpoint, region: 'us-east-1', credentials: operator });
    const current = JSON.parse(
      (await secrets.send(new GetSecretValueCommand({ SecretId: `keyrot/${DEMO_USER}`, VersionStage: 'AWSCURRENT' })))
        .SecretString ?? '{}',
    ) as LocalKey;
    out.progress('\nproof, from outside the workflow:');
    out.progress(`  AWSCURRENT holds ${current.accessKeyId}`);
    out.progress(`  new key ${current.accessKeyId} signs as: ${await whoIs(moto.endpoint, current)}`);
    out.progress(`  old key ${old.accessKeyId} signs as: ${await whoIs(moto.endpoint, old)}`);

    const report = await verifyArchive(clients.s3, environment.KEYROT_ARCHIVE_BUCKET, {
      publicKey: await verificationKey(clients.kms, settings()),
    });
    out.progress(
      `  evidence archive s3://${report.bucket}: ${report.records} record(s), chain ${report.findings.length === 0 ? 'verified' : `BROKEN: ${report.findings.map((f) => f.problem).join('; ')}`}`,
    );
    const [newest] = await localSource().list({ user: DEMO_USER, limit: 1 });
    const latest = newest && findExecution(newest.name);
    if (latest) {
      const file = path.join(path.dirname(storeDir()), 'audit', `${latest.name}.html`);
      mkdirSync(path.dirname(file), { recursive: true });
      writeFileSync(
        file,
        renderHtml(replay(latest, { publicKey: await verificationKey(clients.kms, settings()) }), latest.definition),
      );
      out.progress(`  audit report: ${file} (or: keyrot audit ${latest.name} --local)`);
    }
    return code;
  } finally {
    consumer?.stop();
    await moto.stop();
  }
}
