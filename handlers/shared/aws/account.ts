import { IAMClient } from '@aws-sdk/client-iam';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { GetCallerIdentityCommand } from '@aws-sdk/client-sts';
import { accountSettings, credentialsFor } from '../../domain/accounts';
import type { Clients } from '../clients';
import { AccountNotManagedError } from '../errors';
import { hooked, MAX_ATTEMPTS } from './hooks';
import { iam } from './iam';
import { secrets } from './secrets';
import { sts } from './sts';

/** The clients that act in the account a rotation's user lives in. */
export type AccountClients = Pick<Clients, 'iam' | 'secrets'>;

const own: AccountClients = { iam, secrets };
const MEMBER_CREDENTIALS_MS = 50 * 60_000;
const members = new Map<string, { clients: AccountClients; until: number }>();
let ownAccount: Promise<string> | undefined;

/**
 * IAM and Secrets Manager in the account a rotation's user lives in: ours as they are, or, for
 * a member account, through the member role (cached for 50 minutes). Notifications, approvals
 * and the archive stay central. Only configured accounts are reached.
 */
export async function accountClients(account: string | undefined): Promise<AccountClients> {
  if (!account) return own;
  ownAccount ??= sts.send(new GetCallerIdentityCommand({})).then((identity) => identity.Account ?? '');
  const ownId = await ownAccount;
  if (account === ownId) return own;
  const config = accountSettings();
  if (config.accounts !== 'organizations' && !config.accounts.includes(account)) {
    throw new AccountNotManagedError(`account ${account} is not one keyrot manages (KEYROT_ACCOUNTS)`);
  }
  const cached = members.get(account);
  if (cached && cached.until > Date.now()) return cached.clients;
  const credentials = await credentialsFor(sts, account, ownId, config);
  const identity = { kind: 'member', account } as const;
  const member: AccountClients = {
    iam: hooked(new IAMClient({ maxAttempts: MAX_ATTEMPTS, credentials }), identity),
    secrets: hooked(new SecretsManagerClient({ maxAttempts: MAX_ATTEMPTS, credentials }), identity),
  };
  members.set(account, { clients: member, until: Date.now() + MEMBER_CREDENTIALS_MS });
  return member;
}
