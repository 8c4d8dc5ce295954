import { readFileSync, writeFileSync } from 'node:fs';
import { renderHtml } from '../audit/html';
import { renderReplay, type Format } from '../audit/render';
import { replay } from '../audit/replay';
import { verifyArchive } from '../audit/verify';
import { listKeys, readChain } from '../handlers/domain/archive';
import type { ExecutionRecord } from '../handlers/domain/execution-record';
import {
  publicKeyPem,
  verificationKey,
  verificationKeyFromPem,
  type VerificationKey,
} from '../handlers/domain/signing';
import { clients, settings } from '../handlers/shared/clients';
import { InvalidInputError } from '../handlers/shared/errors';
import { findExecution } from '../local/store';
import { apiSource, CommandError, localSource, readArchived, type ExecutionSummary } from './executions';
import { printExecutions } from './operate';
import { EXIT_CODES } from './outcome';

export type HistorySource = 'auto' | 'api' | 'archive' | 'local';

export interface AuditOptions {
  from: HistorySource;
  format: Format;
  output?: string;
  bucket?: string;
  stateMachineArn?: string;
  /** A PEM file with keyrot's signing public key (`keyrot public-key`). */
  publicKey?: string;
}

/**
 * The key signatures are checked with: --public-key, a PEM file (offline: no AWS access), else
 * the signing key's own public key from KMS ($KEYROT_SIGNING_KEY_ID), else none, and then no
 * signature counts as verified.
 */
export async function resolvePublicKey(file: string | undefined): Promise<VerificationKey | undefined> {
  if (file) {
    let pem: string;
    try {
      pem = readFileSync(file, 'utf8');
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
      throw new CommandError(`cannot read --public-key ${file} (${code})`, EXIT_CODES.INVALID);
    }
    try {
      return verificationKeyFromPem(pem, `--public-key ${file}`);
    } catch (error) {
      if (error instanceof InvalidInputError) throw new CommandError(error.message, EXIT_CODES.INVALID);
      throw error;
    }
  }
  const config = settings();
  return config.signingKeyId ? verificationKey(clients.kms, config) : undefined;
}

/** `keyrot public-key`: the signing key's public half as PEM, for auditors to verify offline with. */
export async function exportPublicKey(options: { keyId?: string }): Promise<number> {
  const signingKeyId = options.keyId ?? settings().signingKeyId;
  if (!signingKeyId) {
    throw new CommandError(
      "no signing key: pass --key-id or set KEYROT_SIGNING_KEY_ID (the stack's output SigningKeyArn)",
      EXIT_CODES.INVALID,
    );
  }
  process.stdout.write(publicKeyPem(await verificationKey(clients.kms, { signingKeyId })));
  return 0;
}

/**
 * Read an execution from where it is: the local store, the Step Functions API, or the
 * evidence archive. `auto` tries them in that order, falling back to the archive once Step
 * Functions no longer has the execution (90 days after it closed).
 */
async function readFrom(id: string, options: AuditOptions, progress: (line: string) => void): Promise<ExecutionRecord> {
  const onPage = (events: number) => progress(`keyrot: read ${events} events...`);
  if (options.from === 'local') return localSource().read(id);
  if (options.from === 'archive') return readArchived(options.bucket, id);
  if (options.from === 'api') return apiSource(options.stateMachineArn).read(id, onPage);
  const name = id.startsWith('arn:') ? (id.split(':').at(-1) ?? id) : id;
  if (findExecution(name)) return localSource().read(id);
  try {
    return await apiSource(options.stateMachineArn).read(id, onPage);
  } catch (error) {
    const gone = error instanceof CommandError && error.exitCode === EXIT_CODES.NOT_FOUND;
    if (!gone || !options.bucket || !id.startsWith('arn:')) throw error;
    progress('keyrot: Step Functions no longer has it; reading the evidence archive');
    return readArchived(options.bucket, id);
  }
}

/** `keyrot audit <execution>`: the replay of one execution in the chosen format. */
export async function auditExecution(id: string, options: AuditOptions): Promise<number> {
  const progress = (line: string) => process.stderr.write(`${line}\n`);
  const publicKey = await resolvePublicKey(options.publicKey);
  const record = await readFrom(id, options, progress);
  const replayed = replay(record, { publicKey });
  const text =
    options.format === 'html' ? renderHtml(replayed, record.definition) : renderReplay(replayed, options.format);
  if (options.output) {
    writeFileSync(options.output, text);
    progress(`keyrot: wrote ${options.output} (${replayed.steps.length} steps, ${replayed.eventCount} events)`);
  } else {
    process.stdout.write(text);
  }
  if (!replayed.complete) progress(`keyrot: the history is INCOMPLETE: ${replayed.gaps.join('; ')}`);
  const unverified = replayed.signatures.filter((signature) => !signature.verified);
  const forged = unverified.filter((signature) => signature.forged).length;
  if (unverified.length > 0)
    progress(`keyrot: ${unverified.length} signature(s) do NOT verify${forged > 0 ? ` (${forged} FORGED)` : ''}`);
  if (!publicKey && replayed.signatures.length > 0)
    progress('keyrot: no public key to check signatures with: pass --public-key key.pem (keyrot public-key)');
  return replayed.complete && unverified.length === 0 ? 0 : EXIT_CODES.TAMPERED;
}

/**
 * `keyrot audit --user U`: every rotation of one user, from the local store, the API and the
 * archive together (the archive holds what Step Functions has forgotten).
 */
export async function auditUser(
  user: string,
  options: AuditOptions & { since?: Date; local: boolean; json: boolean },
): Promise<number> {
  const filter = { user, since: options.since, limit: 10_000 };
  const found = new Map<string, ExecutionSummary>();
  const sources = options.local ? [localSource()] : [apiSource(options.stateMachineArn)];
  for (const source of sources)
    for (const summary of await source.list(filter)) found.set(summary.executionArn, summary);
  if (options.bucket) {
    // Every account's chain for this user: chain/<account>/<user>/<seq>.json
    const chains = new Set(
      (await listKeys(clients.s3, options.bucket, 'chain/'))
        .map((key) => key.split('/'))
        .filter((parts) => parts[2] === user)
        .map((parts) => parts[1] ?? ''),
    );
    for (const account of chains) {
      for (const entry of await readChain(clients.s3, options.bucket, account, user)) {
        if (found.has(entry.executionArn)) continue;
        const startDate = (await readArchived(options.bucket, entry.executionArn)).startDate;
        if (options.since && Date.parse(startDate) < options.since.getTime()) continue;
        found.set(entry.executionArn, {
          executionArn: entry.executionArn,
          name: entry.executionArn.split(':').at(-1) ?? '',
          user,
          status: entry.status,
          startDate,
          stopDate: entry.stopDate,
          outcome: entry.outcome,
          reason: entry.reason,
        });
      }
    }
  }
  const sorted = [...found.values()].sort((a, b) => b.startDate.localeCompare(a.startDate));
  return printExecutions(sorted, { json: options.json });
}

/** `keyrot verify`: walk the archive's chains; exit 8 on any changed, missing or reordered record. */
export async function verify(options: {
  bucket?: string;
  user?: string;
  json: boolean;
  publicKey?: string;
}): Promise<number> {
  if (!options.bucket) throw new CommandError('no archive bucket: pass --bucket or set KEYROT_ARCHIVE_BUCKET', 2);
  const publicKey = await resolvePublicKey(options.publicKey);
  const report = await verifyArchive(clients.s3, options.bucket, { user: options.user, publicKey }, (line) => {
    if (!options.json) process.stderr.write(`${line}\n`);
  });
  if (options.json) process.stdout.write(`${JSON.stringify(report)}\n`);
  else {
    for (const finding of report.findings) process.stdout.write(`TAMPERED  ${finding.key}: ${finding.problem}\n`);
    const entries = report.chains.reduce((sum, chain) => sum + chain.entries, 0);
    process.stdout.write(
      report.findings.length === 0
        ? `verified: ${report.chains.length} chain(s), ${entries} entries, ${report.records} records in s3://${report.bucket}; nothing changed, missing or out of order\n`
        : `FAILED: ${report.findings.length} problem(s) in s3://${report.bucket}\n`,
    );
  }
  if (report.chains.length === 0 && options.user) {
    throw new CommandError(`no archived records for ${options.user} in s3://${options.bucket}`, EXIT_CODES.NOT_FOUND);
  }
  return report.findings.length === 0 ? 0 : EXIT_CODES.TAMPERED;
}
