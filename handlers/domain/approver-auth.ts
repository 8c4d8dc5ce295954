import {
  GetUserCommand,
  InitiateAuthCommand,
  RespondToAuthChallengeCommand,
} from '@aws-sdk/client-cognito-identity-provider';
import type { Clients, Settings } from '../shared/clients';
import { InvalidInputError } from '../shared/errors';
import type { Signer } from './approvals';
import { directoryEntry } from './approvers';

/**
 * A sign-in at signing did not give a signer: wrong password, unknown or disabled user, an account
 * that must still choose its password or has no printed name. The page gives one answer for all,
 * so it tells nobody which user names exist or which passwords are right; the reason is for the log.
 */
export class SignInRefusedError extends Error {
  override readonly name = 'SignInRefused';
}

/** The first password is set, but Cognito asks for a further step (MFA) before sign-in completes. */
export class SignInIncompleteError extends Error {
  override readonly name = 'SignInIncomplete';
}

const REFUSED = new Set(['NotAuthorizedException', 'UserNotFoundException', 'PasswordResetRequiredException']);

/**
 * USER_PASSWORD_AUTH through the approvers' app client; `refusal` turns the Cognito errors that
 * mean "not this user and password" into keyrot's own, every other error leaves as it is.
 */
async function signIn(
  cognito: Clients['cognito'],
  config: Pick<Settings, 'approverClientId'>,
  username: string,
  password: string,
  refusal: (error: Error) => Error | undefined,
) {
  if (!config.approverClientId) throw new InvalidInputError('KEYROT_APPROVER_CLIENT_ID is not configured');
  try {
    return await cognito.send(
      new InitiateAuthCommand({
        AuthFlow: 'USER_PASSWORD_AUTH',
        ClientId: config.approverClientId,
        AuthParameters: { USERNAME: username, PASSWORD: password },
      }),
    );
  } catch (error) {
    throw (error instanceof Error && refusal(error)) || error;
  }
}

/**
 * Authenticate an approver at the moment of signing (21 CFR 11.200: ID and password) against
 * the Cognito user pool, and return who signs: the pool's `sub` and user name, and the printed
 * name keyrot's directory holds for that `sub`, never the pool's `name` (its owner can rewrite it)
 * and never one from the form.
 */
export async function authenticateApprover(
  { cognito, ddb }: Pick<Clients, 'cognito' | 'ddb'>,
  config: Pick<Settings, 'approverClientId' | 'approvalsTable'>,
  credentials: { username: string; password: string },
): Promise<Signer> {
  const auth = await signIn(cognito, config, credentials.username, credentials.password, (error) =>
    REFUSED.has(error.name) ? new SignInRefusedError(error.name) : undefined,
  );
  const accessToken = auth.AuthenticationResult?.AccessToken;
  if (!accessToken) throw new SignInRefusedError(`sign-in is not complete (${auth.ChallengeName ?? 'no token'})`);
  const user = await cognito.send(new GetUserCommand({ AccessToken: accessToken }));
  const sub = user.UserAttributes?.find((attribute) => attribute.Name === 'sub')?.Value;
  if (!sub) throw new SignInRefusedError(`the account ${user.Username} has no sub`);
  if (!config.approvalsTable) throw new InvalidInputError('KEYROT_APPROVALS_TABLE is not configured');
  const entry = await directoryEntry(ddb, config.approvalsTable, sub);
  if (!entry || entry.username !== user.Username) {
    throw new SignInRefusedError(
      `the account ${user.Username} is not in keyrot's approver directory: ask the administrator (keyrot approvers add)`,
    );
  }
  return {
    username: entry.username,
    sub,
    name: entry.name,
    ...(entry.principalArn ? { principalArn: entry.principalArn } : {}),
  };
}

/**
 * A first password was not set: wrong temporary password, unknown or disabled user, an account
 * that already has its own password, an expired session or throttling. The page shows one answer
 * for all of them, so it tells nobody which user names exist or which passwords are right; the
 * reason here is for the log only.
 */
export class FirstPasswordRefusedError extends Error {
  override readonly name = 'FirstPasswordRefused';
}

/** The new password does not meet the pool's password policy (Cognito's InvalidPasswordException). */
export class PasswordPolicyError extends Error {
  override readonly name = 'PasswordPolicy';
}

// Cognito's answers that mean "not this user with this password now"; throttling is among them
// so that a flood of guesses cannot tell a throttled guess from a wrong one.
const NOT_NOW = new Set([
  ...REFUSED,
  'UserNotConfirmedException',
  'CodeMismatchException',
  'ExpiredCodeException',
  'TooManyRequestsException',
  'TooManyFailedAttemptsException',
  'LimitExceededException',
  'ThrottlingException',
]);

/** Cognito's own reason after "did not conform with policy:", when it is plain short text. */
function policyReason(error: Error): string | undefined {
  const reason = /policy:\s*(.+)$/i.exec(error.message)?.[1]?.trim();
  return reason && reason.length <= 200 && /^[\w .,'()-]+$/.test(reason) ? reason : undefined;
}

/**
 * An approver's first sign-in: authenticate with the temporary password Cognito e-mailed
 * (USER_PASSWORD_AUTH) and answer the NEW_PASSWORD_REQUIRED challenge with their own password.
 * The tokens Cognito returns are not kept: signing authenticates again, at the moment of signing.
 */
export async function setFirstPassword(
  { cognito }: Pick<Clients, 'cognito'>,
  config: Pick<Settings, 'approverClientId'>,
  credentials: { username: string; temporaryPassword: string; newPassword: string },
): Promise<void> {
  const notNow = (error: unknown) =>
    error instanceof Error && NOT_NOW.has(error.name) ? new FirstPasswordRefusedError(error.name) : error;
  const auth = await signIn(cognito, config, credentials.username, credentials.temporaryPassword, (error) =>
    NOT_NOW.has(error.name) ? new FirstPasswordRefusedError(error.name) : undefined,
  );
  if (auth.ChallengeName !== 'NEW_PASSWORD_REQUIRED' || !auth.Session) {
    throw new FirstPasswordRefusedError(
      auth.AuthenticationResult ? 'already has its own password' : `${auth.ChallengeName ?? 'no challenge'}`,
    );
  }
  let answer;
  try {
    answer = await cognito.send(
      new RespondToAuthChallengeCommand({
        ClientId: config.approverClientId,
        ChallengeName: 'NEW_PASSWORD_REQUIRED',
        Session: auth.Session,
        ChallengeResponses: {
          // The pool's own user id for the account, as Cognito asks for it in the challenge.
          USERNAME: auth.ChallengeParameters?.USER_ID_FOR_SRP ?? credentials.username,
          NEW_PASSWORD: credentials.newPassword,
        },
      }),
    );
  } catch (error) {
    if (error instanceof Error && error.name === 'InvalidPasswordException') {
      throw new PasswordPolicyError(policyReason(error) ?? '');
    }
    throw notNow(error);
  }
  if (!answer.AuthenticationResult) {
    throw new SignInIncompleteError(
      `the password is set, but sign-in also asks for ${answer.ChallengeName ?? 'another step'}: ask the administrator`,
    );
  }
}
