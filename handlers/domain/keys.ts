import { ListAccessKeysCommand, type AccessKeyMetadata, type IAMClient } from '@aws-sdk/client-iam';

/** All access keys of a user (IAM allows two, but the pager is honoured anyway). */
export async function listKeys(iam: IAMClient, userName: string): Promise<AccessKeyMetadata[]> {
  const keys: AccessKeyMetadata[] = [];
  let marker: string | undefined;
  do {
    const page = await iam.send(new ListAccessKeysCommand({ UserName: userName, Marker: marker }));
    keys.push(...(page.AccessKeyMetadata ?? []));
    marker = page.IsTruncated ? page.Marker : undefined;
  } while (marker);
  return keys;
}

/** Whether an AWS error means "the entity is not there" (the SDK names it either way). */
export function isNoSuchEntity(error: unknown): boolean {
  return error instanceof Error && (error.name === 'NoSuchEntityException' || error.name === 'NoSuchEntity');
}

/**
 * The keys a rotation created: every key other than the old one made since the execution
 * started (IAM dates have second precision, so the start is floored to the second). One
 * rotation per user at a time makes this exact; CreateKey and the rollback both rely on it.
 */
export function keysCreatedBy(
  keys: AccessKeyMetadata[],
  rotation: { oldKeyId: string | null; startedAt: string },
): AccessKeyMetadata[] {
  const since = Math.floor(Date.parse(rotation.startedAt) / 1000) * 1000;
  return keys.filter((key) => key.AccessKeyId !== rotation.oldKeyId && (key.CreateDate?.getTime() ?? 0) >= since);
}
