import { GetUserCommand, InitiateAuthCommand } from '@aws-sdk/client-cognito-identity-provider';
import type { Clients, Settings } from '../shared/clients';
import { InvalidInputError } from '../shared/errors';
import type { Signer } from './approvals';

/** The user name and password did not authenticate. */
export class WrongPasswordError extends Error {
  override readonly name = 'WrongPassword';
}

/** The account exists but must finish signing in (new password, MFA) before it can sign. */
export class SignInIncompleteError extends Error {
  override readonly name = 'SignInIncomplete';
}

const REFUSED = new Set(['NotAuthorizedException', 'UserNotFoundException', 'PasswordResetRequiredException']);

/**
 * Authenticate an approver at the moment of signing (21 CFR 11.200: ID and password) against
 * the Cognito user pool, and return the printed name the pool holds, never one from the form.
 */
export async function authenticateApprover(
  { cognito }: Pick<Clients, 'cognito'>,
  config: Pick<Settings, 'approverClientId'>,
  credentials: { username: string; password: string },
): Promise<Signer> {
  if (!config.approverClientId) throw new InvalidInputError('KEYROT_APPROVER_CLIENT_ID is not configured');
  let auth;
  try {
    auth = await cognito.send(
      new InitiateAuthCommand({
        AuthFlow: 'USER_PASSWORD_AUTH',
        ClientId: config.approverClientId,
        AuthParameters: { USERNAME: credentials.username, PASSWORD: credentials.password },
      }),
    );
  } catch (error) {
    if (error instanceof Error && REFUSED.has(error.name)) throw new WrongPasswordError('wrong user name or password');
    throw error;
  }
  const accessToken = auth.AuthenticationResult?.AccessToken;
  if (!accessToken) throw new SignInIncompleteError(`sign-in is not complete (${auth.ChallengeName ?? 'no token'})`);
  const user = await cognito.send(new GetUserCommand({ AccessToken: accessToken }));
  const name = user.UserAttributes?.find((attribute) => attribute.Name === 'name')?.Value;
  if (!name) throw new SignInIncompleteError(`the account ${user.Username} has no printed name (attribute "name")`);
  return { username: user.Username ?? credentials.username, name };
}
