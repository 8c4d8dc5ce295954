import { CreateAccessKeyCommand, DeleteAccessKeyCommand } from '@aws-sdk/client-iam';
import { CreateSecretCommand, PutSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import type { Clients, Settings } from '../shared/clients';
import { KeyMissingError, SecretMismatchError } from '../shared/errors';
import { logger } from '../shared/logger';
import type { Created, RotationState } from '../shared/schemas';
import { keysCreatedBy, listKeys } from './keys';
import { readKey, versionIdFor, versionStages, versionWith } from './secret';
import { DEFAULT_SECRET_FORMAT, formatSecret } from './secret-format';

/**
 * Step 3: create the new key and, in the same invocation, store it in Secrets Manager as
 * AWSPENDING. Only the key id (and version ids) are returned. Safe to retry: a version already
 * stored by this execution is reused, and a key an earlier attempt created but never stored is
 * deleted. Also returns the version AWSCURRENT was on, which Distribute moves the label from.
 */
export async function createKey(
  { iam, secrets }: Pick<Clients, 'iam' | 'secrets'>,
  config: Pick<Settings, 'kmsKeyId'>,
  state: RotationState,
): Promise<Created> {
  const versionId = versionIdFor(state.executionId);
  const { exists, stages } = await versionStages(secrets, state.secretId);
  const currentVersion = versionWith(stages, 'AWSCURRENT') ?? null;

  if (stages[versionId]) {
    const stored = await readKey(secrets, state.secretId, { VersionId: versionId }, state.detection.secretFormat);
    const key = (await listKeys(iam, state.userName)).find((k) => k.AccessKeyId === stored.accessKeyId);
    if (!key) throw new KeyMissingError(`key ${stored.accessKeyId} stored by this execution no longer exists`);
    logger.info('key already created by an earlier attempt', { newKeyId: stored.accessKeyId });
    return {
      newKeyId: stored.accessKeyId,
      secretVersionId: versionId,
      createdAt: toIso(key.CreateDate),
      replacesVersionId: currentVersion,
    };
  }

  // The new version keeps the current one's shape and other fields (a consumer's region, say).
  // Versions never change, so when AWSCURRENT is still the version Detect read and Detect saw
  // no other fields, there is nothing to copy; otherwise it is read before the key exists, so
  // a secret keyrot cannot read stops here with nothing created.
  const format = state.detection.secretFormat ?? DEFAULT_SECRET_FORMAT;
  const known = currentVersion === state.detection.secretVersionId && state.detection.secretOtherFields === false;
  const like =
    currentVersion && !known
      ? (await readKey(secrets, state.secretId, { VersionId: currentVersion }, format)).fields
      : undefined;

  const accessKey = await createAccessKey(iam, state);
  if (!exists) {
    await secrets.send(
      new CreateSecretCommand({
        Name: state.secretId,
        Description: `IAM access key of ${state.userName}, rotated by keyrot`,
        // keyrot's key lives in its own account; a member account's secret uses that account's default key.
        KmsKeyId: state.account ? undefined : config.kmsKeyId,
        Tags: [
          { Key: 'keyrot:user', Value: state.userName },
          { Key: 'keyrot:created-by', Value: state.executionId },
        ],
      }),
    );
  }
  await secrets.send(
    new PutSecretValueCommand({
      SecretId: state.secretId,
      ClientRequestToken: versionId,
      SecretString: formatSecret(
        format,
        { accessKeyId: accessKey.AccessKeyId, secretAccessKey: accessKey.SecretAccessKey },
        like,
      ),
      VersionStages: ['AWSPENDING'],
    }),
  );
  logger.info('created key and stored it as AWSPENDING', { newKeyId: accessKey.AccessKeyId, versionId });
  return {
    newKeyId: accessKey.AccessKeyId,
    secretVersionId: versionId,
    createdAt: toIso(accessKey.CreateDate),
    replacesVersionId: currentVersion,
  };
}

/**
 * CreateAccessKey, after deleting any orphan. An attempt that died after creating a key but
 * before storing it left a key nobody holds the secret of; beside the old key that is two, so
 * IAM refuses the new one (LimitExceeded) and only then are the keys listed: every key other
 * than the old one made since this execution started goes, and the key is created again.
 */
async function createAccessKey(
  iam: Clients['iam'],
  state: RotationState,
): Promise<{ AccessKeyId: string; SecretAccessKey: string; CreateDate?: Date }> {
  let created;
  try {
    created = await iam.send(new CreateAccessKeyCommand({ UserName: state.userName }));
  } catch (error) {
    if (!(error instanceof Error) || error.name !== 'LimitExceededException') throw error;
    const keys = await listKeys(iam, state.userName);
    const orphans = keysCreatedBy(keys, { oldKeyId: state.detection.oldKeyId, startedAt: state.startedAt });
    if (orphans.length === 0) throw error;
    for (const orphan of orphans) {
      logger.warn('deleting orphan key from an earlier attempt', { keyId: orphan.AccessKeyId });
      await iam.send(new DeleteAccessKeyCommand({ UserName: state.userName, AccessKeyId: orphan.AccessKeyId }));
    }
    created = await iam.send(new CreateAccessKeyCommand({ UserName: state.userName }));
  }
  const accessKey = created.AccessKey;
  if (!accessKey?.AccessKeyId || !accessKey.SecretAccessKey) {
    throw new SecretMismatchError('CreateAccessKey returned no key');
  }
  return {
    AccessKeyId: accessKey.AccessKeyId,
    SecretAccessKey: accessKey.SecretAccessKey,
    CreateDate: accessKey.CreateDate,
  };
}

function toIso(date: Date | undefined): string {
  return (date ?? new Date()).toISOString();
}
