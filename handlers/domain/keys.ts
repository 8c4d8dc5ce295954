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
