import { summarize } from '../../handlers/domain/outcome';
import type { LocalExecution } from '../../local/engine';
import type { LocalKey } from '../../local/seed';
import type { LocalAws } from './local-aws';

/**
 * The invariants of DESIGN.md for one user after a rotation, checked from outside the
 * workflow: AWSCURRENT authenticates as the user (STS), no key that neither AWSCURRENT nor
 * AWSPREVIOUS names, at most one new key, a named outcome consistent with the keys. Returns
 * what was broken, or nothing.
 */
export async function invariantViolations(
  aws: LocalAws,
  user: string,
  original: LocalKey,
  execution: LocalExecution,
): Promise<string[]> {
  const found: string[] = [];
  const current = await aws.secretKey(user, 'AWSCURRENT');
  const previous = await aws.secretKey(user, 'AWSPREVIOUS');
  const keys = await aws.keys(user);
  const userArn = `arn:aws:iam::123456789012:user/${user}`;
  if (!current || (await aws.whoIs(current)) !== userArn) found.push('AWSCURRENT does not authenticate as the user');
  const named = new Set([current?.accessKeyId, previous?.accessKeyId]);
  for (const key of keys) if (!named.has(key.id)) found.push(`orphan key ${key.id}: not AWSCURRENT nor AWSPREVIOUS`);
  if (keys.filter((key) => key.id !== original.accessKeyId).length > 1) found.push('more than one new key survived');
  const { outcome } = summarize(execution.events);
  if (!['ROTATED', 'ROLLED_BACK', 'ROLLBACK_FAILED', 'FAILED', 'REJECTED'].includes(outcome)) {
    found.push(`outcome ${outcome} is not a named one`);
  }
  const onlyOriginal = keys.length === 1 && keys[0]?.id === original.accessKeyId && keys[0].status === 'Active';
  if (outcome === 'ROTATED' && (current?.accessKeyId === original.accessKeyId || keys.length !== 1)) {
    found.push('ROTATED, but the original key is still the current one or not the only one left');
  }
  if (outcome === 'ROTATED' && (await aws.whoIs(original)) !== 'InvalidClientTokenId') {
    found.push('ROTATED, but the original key still authenticates');
  }
  if (
    (outcome === 'ROLLED_BACK' || outcome === 'FAILED') &&
    !(onlyOriginal && current?.accessKeyId === original.accessKeyId)
  ) {
    found.push(`${outcome}, but the user is not back on the original key alone`);
  }
  return found;
}
