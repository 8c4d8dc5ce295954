import { createHmac, timingSafeEqual } from 'node:crypto';
import { GetSecretValueCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { Settings } from '../shared/clients';
import { InvalidInputError } from '../shared/errors';

const keys = new Map<string, Buffer>();

/** The HMAC key for links and CSRF tokens, read once per container from Secrets Manager. */
export async function loadLinkKey(
  secrets: SecretsManagerClient,
  config: Pick<Settings, 'linkKeySecret'>,
): Promise<Buffer> {
  if (!config.linkKeySecret) throw new InvalidInputError('KEYROT_LINK_KEY_SECRET is not configured');
  let key = keys.get(config.linkKeySecret);
  if (!key) {
    const value = await secrets.send(
      new GetSecretValueCommand({ SecretId: config.linkKeySecret, VersionStage: 'AWSCURRENT' }),
    );
    if (!value.SecretString || value.SecretString.length < 32) {
      throw new InvalidInputError(`${config.linkKeySecret} does not hold a key of at least 32 characters`);
    }
    key = Buffer.from(value.SecretString, 'utf8');
    keys.set(config.linkKeySecret, key);
  }
  return key;
}

const mac = (key: Buffer, purpose: string, approvalId: string) =>
  createHmac('sha256', key).update(`${purpose}:${approvalId}`).digest('hex');

/** The `sig` an approval link carries: proof the link was issued for this approval. */
export const linkSignature = (key: Buffer, approvalId: string) => mac(key, 'link', approvalId);

/** The CSRF token bound to one approval, embedded in its form. */
export const csrfToken = (key: Buffer, approvalId: string) => mac(key, 'csrf', approvalId);

/**
 * What the audit trail shows for a user name typed at a failed sign-in that no account vouched
 * for: a keyed digest, never the text (an approver may have typed a password into the field).
 * The same name gives the same digest, so repeated attempts still read as one name.
 */
export const unverifiedName = (key: Buffer, identity: string) =>
  `unverified name #${mac(key, 'sign-in name', identity).slice(0, 12)}`;

/** Compare a presented token with the expected one in constant time. */
export function sameToken(expected: string, presented: string | undefined): boolean {
  if (!presented || presented.length !== expected.length) return false;
  return timingSafeEqual(Buffer.from(expected), Buffer.from(presented));
}

/** The link an approver receives: the approval id and an HMAC over it, nothing else. */
export function approvalLink(baseUrl: string | undefined, approvalId: string, key: Buffer): string {
  return `${baseUrl ?? '(approval URL not configured)'}/approvals/${approvalId}?sig=${linkSignature(key, approvalId)}`;
}
