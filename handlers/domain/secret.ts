import { createHash } from 'node:crypto';
import {
  DescribeSecretCommand,
  GetSecretValueCommand,
  ResourceNotFoundException,
  UpdateSecretVersionStageCommand,
  type SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { SecretMismatchError } from '../shared/errors';
import { isProblem, parseSecret, type ParsedSecret, type SecretFormat } from './secret-format';

/** The secret's content. Only ever held in memory inside a handler. */
export interface StoredKey {
  accessKeyId: string;
  secretAccessKey: string;
}

/** Version ids by staging label; empty when the secret does not exist yet. */
export async function versionStages(
  secrets: SecretsManagerClient,
  secretId: string,
): Promise<{ exists: boolean; stages: Record<string, string[]> }> {
  try {
    const secret = await secrets.send(new DescribeSecretCommand({ SecretId: secretId }));
    return { exists: true, stages: secret.VersionIdsToStages ?? {} };
  } catch (error) {
    if (error instanceof ResourceNotFoundException) return { exists: false, stages: {} };
    throw error;
  }
}

/** The version id that carries `label`, if any. */
export function versionWith(stages: Record<string, string[]>, label: string): string | undefined {
  return Object.entries(stages).find(([, labels]) => labels.includes(label))?.[0];
}

/**
 * Read one version of the secret in `format` (the one Detect found; else the one shape it
 * matches); refuses content that is not a stored access key. The result keeps the secret's
 * other fields, so a writer can keep them.
 */
export async function readKey(
  secrets: SecretsManagerClient,
  secretId: string,
  version: { VersionId: string } | { VersionStage: string },
  format?: SecretFormat,
): Promise<StoredKey & Pick<ParsedSecret, 'format' | 'fields'>> {
  const value = await secrets.send(new GetSecretValueCommand({ SecretId: secretId, ...version }));
  const parsed = parseSecret(value.SecretString, format);
  if (isProblem(parsed)) {
    throw new SecretMismatchError(`secret ${secretId} (version ${value.VersionId}) ${parsed.problem}`);
  }
  return parsed;
}

/**
 * The secret version id used by one execution: derived from the execution id, so a retried
 * CreateKey finds what an earlier attempt stored instead of creating a second key.
 */
export function versionIdFor(executionId: string): string {
  const hex = createHash('sha256').update(executionId).digest('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}

/** Move a staging label (`to` omitted: only remove it from `from`). */
export async function moveStage(
  secrets: SecretsManagerClient,
  secretId: string,
  stage: string,
  versions: { from?: string; to?: string },
): Promise<void> {
  await secrets.send(
    new UpdateSecretVersionStageCommand({
      SecretId: secretId,
      VersionStage: stage,
      ...(versions.to ? { MoveToVersionId: versions.to } : {}),
      ...(versions.from ? { RemoveFromVersionId: versions.from } : {}),
    }),
  );
}
