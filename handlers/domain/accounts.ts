import { IAMClient } from '@aws-sdk/client-iam';
import { AssumeRoleCommand, GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { hooked } from '../shared/aws/hooks';

/** Which accounts keyrot manages and how it gets into them. */
export interface AccountSettings {
  /** Account ids, or `organizations` for every ACTIVE account of the organization; empty = this account only. */
  accounts: string[] | 'organizations';
  /** The role keyrot assumes in each member account (the member stack creates it). */
  roleName: string;
  /** The external id that role requires (confused-deputy protection). */
  externalId: string | undefined;
}

/** Member account settings from the environment (KEYROT_ACCOUNTS, KEYROT_MEMBER_ROLE, KEYROT_EXTERNAL_ID). */
export function accountSettings(): AccountSettings {
  const listed = (process.env.KEYROT_ACCOUNTS ?? '').trim();
  return {
    accounts:
      listed === 'organizations'
        ? 'organizations'
        : listed
            .split(',')
            .map((id) => id.trim())
            .filter(Boolean),
    roleName: process.env.KEYROT_MEMBER_ROLE || 'KeyrotMember',
    externalId: process.env.KEYROT_EXTERNAL_ID || undefined,
  };
}

/** The account ids to scan: this one first, then the members (listed, or every ACTIVE one of the organization). */
export async function accountIds(sts: STSClient, config: AccountSettings): Promise<{ own: string; all: string[] }> {
  const own = (await sts.send(new GetCallerIdentityCommand({}))).Account ?? '';
  let members: string[] = [];
  if (config.accounts === 'organizations') {
    // Loaded only in this mode: every handler imports this module, and an SDK package costs cold start.
    const { ListAccountsCommand, OrganizationsClient } = await import('@aws-sdk/client-organizations');
    const organizations = hooked(new OrganizationsClient({}));
    let token: string | undefined;
    do {
      // Status is retired in favour of State (September 2026); either says ACTIVE.
      const page = await organizations.send(new ListAccountsCommand({ NextToken: token }));
      members.push(...(page.Accounts ?? []).filter((a) => (a.State ?? a.Status) === 'ACTIVE').map((a) => a.Id ?? ''));
      token = page.NextToken;
    } while (token);
  } else {
    members = config.accounts;
  }
  return { own, all: [...new Set([own, ...members.filter((id) => /^\d{12}$/.test(id))])] };
}

/** Credentials for an account: none needed for our own, an assumed role (with the external id) for a member. */
export async function credentialsFor(
  sts: STSClient,
  account: string,
  own: string,
  config: Pick<AccountSettings, 'roleName' | 'externalId'>,
): Promise<{ accessKeyId: string; secretAccessKey: string; sessionToken?: string } | undefined> {
  if (account === own) return undefined;
  const assumed = await sts.send(
    new AssumeRoleCommand({
      RoleArn: `arn:aws:iam::${account}:role/${config.roleName}`,
      RoleSessionName: 'keyrot',
      ExternalId: config.externalId,
      DurationSeconds: 3600,
    }),
  );
  const credentials = assumed.Credentials;
  if (!credentials?.AccessKeyId || !credentials.SecretAccessKey) {
    throw new Error(`assuming ${config.roleName} in ${account} returned no credentials`);
  }
  return {
    accessKeyId: credentials.AccessKeyId,
    secretAccessKey: credentials.SecretAccessKey,
    sessionToken: credentials.SessionToken,
  };
}

/** An IAM client for an account, through its member role when it is not our own. */
export async function iamFor(
  sts: STSClient,
  account: string,
  own: string,
  config: Pick<AccountSettings, 'roleName' | 'externalId'>,
): Promise<IAMClient> {
  const credentials = await credentialsFor(sts, account, own, config);
  return credentials ? new IAMClient({ credentials, maxAttempts: 4 }) : new IAMClient({ maxAttempts: 4 });
}
