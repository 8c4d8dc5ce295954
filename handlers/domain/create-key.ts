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
 * AWSPENDING. Only the key id is returned. Safe to retry: a version already stored by this
 * execution is reused, and a key an earlier attempt created but never stored is deleted first.
 */
export async function createKey(
  { iam, secrets }: Pick<Clients, 'iam' | 'secrets'>,
  config: Pick<Settings, 'kmsKeyId'>,
  state: RotationState,
): Promise<Created> {
  const versionId = versionIdFor(state.executionId);
  const { exists, stages } = await versionStages(secrets, state.secretId);
  const keys = await listKeys(iam, state.userName);

  if (stages[versionId]) {
    const stored = await readKey(secrets, state.secretId, { VersionId: versionId }, state.detection.secretFormat);
    const key = keys.find((k) => k.AccessKeyId === stored.accessKeyId);
    if (!key) throw new KeyMissingError(`key ${stored.accessKeyId} stored by this execution no longer exists`);
    logger.info('key already created by an earlier attempt', { newKeyId: stored.accessKeyId });
    return { newKeyId: stored.accessKeyId, secretVersionId: versionId, createdAt: toIso(key.CreateDate) };
  }

  // Any key created since this execution started, other than the old one, was made by an
  // attempt that died before storing it: nobody can hold its secret, so it goes.
  for (const orphan of keysCreatedBy(keys, { oldKeyId: state.detection.oldKeyId, startedAt: state.startedAt })) {
    logger.warn('deleting orphan key from an earlier attempt', { keyId: orphan.AccessKeyId });
    await iam.send(new DeleteAccessKeyCommand({ UserName: state.userName, AccessKeyId: orphan.AccessKeyId }));
  }

  // The new version keeps the current one's shape and other fields (a consumer's region, say):
  // read before the key exists, so a secret keyrot cannot read stops here with nothing created.
  const format = state.detection.secretFormat ?? DEFAULT_SECRET_FORMAT;
  const currentVersion = versionWith(stages, 'AWSCURRENT');
  const like = currentVersion
    ? (await readKey(secrets, state.secretId, { VersionId: currentVersion }, format)).fields
    : undefined;

  const created = await iam.send(new CreateAccessKeyCommand({ UserName: state.userName }));
  const accessKey = created.AccessKey;
  if (!accessKey?.AccessKeyId || !accessKey.SecretAccessKey) {
    throw new SecretMismatchError('CreateAccessKey returned no key');
  }
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
  return { newKeyId: accessKey.AccessKeyId, secretVersionId: versionId, createdAt: toIso(accessKey.CreateDate) };
}

function toIso(date: Date | undefined): string {
  return (date ?? new Date()).toISOString();
}
