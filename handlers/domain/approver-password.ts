import { logger } from '../shared/logger';
import { MAX_BODY, type ApprovalApiDeps, type HttpRequest } from './approval-http';
import { csrfToken, loadLinkKey, sameToken } from './approval-links';
import { passwordPage, passwordSetPage } from './approval-page';
import { FORM, unsupportedMediaType } from './media-type';
import { claimAttempt, signInIdentity } from './sign-in-throttle';
import {
  FirstPasswordRefusedError,
  PasswordPolicyError,
  setFirstPassword,
  SignInIncompleteError,
} from './approver-auth';

/** The path of the first sign-in page, beside the approval pages. */
export const PASSWORD_PATH = '/password';

/** The one answer to every refused attempt, so the page tells nobody which part was wrong. */
export const NOT_SET =
  'The user name or temporary password is not right, or this account already has its own password.';

/** How long a password form's CSRF token is accepted after the form was served. */
const FORM_LIFETIME_SECONDS = 3600;
// Cognito's own limits: user names up to 128 characters, passwords up to 256.
const USERNAME_MAX = 128;
const PASSWORD_MAX = 256;

/** What the approval endpoint renders for a password request. */
export interface PasswordOutcome {
  status: number;
  title: string;
  message: string;
  /** The CSRF token, for JSON clients as for the approval form. */
  form?: { csrf: string; action: string };
  /** The complete HTML page. */
  page: string;
  /** Seconds before a throttled attempt may be tried again (the Retry-After header). */
  retryAfter?: number;
}

/**
 * The window first sign-ins are counted in: one UTC day per user name, so guessing a temporary
 * password is throttled as signing is (3 free attempts, then waits doubling up to 1 % of a day).
 */
function passwordWindow(now: Date) {
  const day = now.toISOString().slice(0, 10);
  const start = Date.parse(`${day}T00:00:00.000Z`);
  return {
    approvalId: `password#${day}`,
    requestedAt: new Date(start).toISOString(),
    expiresAt: new Date(start + 86_400_000).toISOString(),
  };
}

/**
 * The CSRF token of a password form: the time it was served and an HMAC over that time with the
 * link key (the approval form's token, bound to a form time instead of an approval).
 */
function formToken(key: Buffer, issued: number): string {
  return `${issued}.${csrfToken(key, `password:${issued}`)}`;
}

function validToken(key: Buffer, presented: string | undefined, now: Date): boolean {
  const issued = Number(/^(\d{1,12})\./.exec(presented ?? '')?.[1]);
  const age = Math.floor(now.getTime() / 1000) - issued;
  if (!Number.isSafeInteger(issued) || age < -60 || age > FORM_LIFETIME_SECONDS) return false;
  return sameToken(formToken(key, issued), presented);
}

/**
 * `GET|HEAD /password` serves the first sign-in form and changes nothing; `POST` replaces an
 * approver's temporary password with their own (Cognito's NEW_PASSWORD_REQUIRED challenge).
 * No password is logged or written into a page.
 */
export async function passwordRoute(deps: ApprovalApiDeps, request: HttpRequest): Promise<PasswordOutcome> {
  const now = deps.now?.() ?? new Date();
  const key = await loadLinkKey(deps.clients.secrets, deps.config);
  const answer = (status: number, title: string, message: string, csrf: string): PasswordOutcome => {
    const form = { csrf, action: PASSWORD_PATH };
    return { status, title, message, form, page: passwordPage(status >= 400 ? { ...form, problem: message } : form) };
  };
  const fresh = () => formToken(key, Math.floor(now.getTime() / 1000));
  if (request.method === 'GET' || request.method === 'HEAD') {
    return answer(200, 'Set your password', 'Replace your temporary password.', fresh());
  }
  if (request.method !== 'POST') {
    return answer(405, 'Method not allowed', 'Use GET to read the form and POST to set the password.', fresh());
  }
  const unsupported = unsupportedMediaType(request.headers['content-type'], FORM, 'form');
  if (unsupported) return answer(415, 'Unsupported form', unsupported, fresh());
  if (Buffer.byteLength(request.body) > MAX_BODY) {
    return answer(413, 'Form too large', 'The form is larger than 16 KiB.', fresh());
  }
  const fields = new URLSearchParams(request.body);
  const presented = fields.get('csrf') ?? undefined;
  if (!validToken(key, presented, now)) {
    return answer(
      403,
      'Form not valid',
      'The form token is missing, wrong or too old: reload the page and try again.',
      fresh(),
    );
  }
  // Refusals below re-render the form with the token it came with, so one refusal reads the same every time.
  const csrf = presented ?? '';
  const username = (fields.get('username') ?? '').trim();
  const temporaryPassword = fields.get('temporaryPassword') ?? '';
  const newPassword = fields.get('newPassword') ?? '';
  const again = fields.get('newPasswordAgain') ?? '';
  if (!username || !temporaryPassword || !newPassword || !again) {
    return answer(
      400,
      'Form incomplete',
      'Enter your user name, the temporary password and the new password twice.',
      csrf,
    );
  }
  if (newPassword !== again) {
    return answer(
      400,
      'Passwords differ',
      'The two new passwords are not the same: type the new password twice.',
      csrf,
    );
  }
  if (newPassword.length > PASSWORD_MAX || newPassword.trim() !== newPassword) {
    return answer(
      400,
      'Password not accepted',
      `The new password may not begin or end with a space and may have at most ${PASSWORD_MAX} characters.`,
      csrf,
    );
  }
  const refused = (reason: string) => {
    logger.warn('first password refused', { username: username.slice(0, USERNAME_MAX), reason });
    return answer(401, 'Password not set', NOT_SET, csrf);
  };
  const identity = signInIdentity(username);
  if (!identity || username.length > USERNAME_MAX || temporaryPassword.length > PASSWORD_MAX)
    return refused('too long');
  // Counted before Cognito sees the temporary password, as a sign-in at signing is.
  const claim = await claimAttempt(deps.clients, deps.config, passwordWindow(now), identity, now);
  if (!claim.allowed) {
    logger.warn('first password throttled', { identity, until: claim.notBefore });
    return {
      ...answer(
        429,
        'Too many attempts',
        `Too many attempts with this user name today: try again after ${claim.notBefore} (in ${claim.retryAfter} ` +
          'seconds). If these attempts were not yours, tell the keyrot administrator.',
        csrf,
      ),
      retryAfter: claim.retryAfter,
    };
  }
  try {
    await setFirstPassword(deps.clients, deps.config, { username, temporaryPassword, newPassword });
  } catch (error) {
    if (error instanceof FirstPasswordRefusedError) return refused(error.message);
    if (error instanceof PasswordPolicyError) {
      logger.warn('first password below the policy', { username, reason: error.message });
      return answer(
        400,
        'Password too weak',
        `The new password does not meet the approvers' password policy${error.message ? ` (${error.message})` : ''}: choose a longer one with upper- and lower-case letters, digits and symbols.`,
        csrf,
      );
    }
    if (error instanceof SignInIncompleteError) return answer(403, 'Sign-in incomplete', error.message, csrf);
    logger.error('first password failed', { username, error: error instanceof Error ? error.name : 'unknown' });
    return answer(500, 'Something went wrong', 'The password was not set. Try again later.', csrf);
  }
  logger.info('first password set', { username });
  return {
    status: 200,
    title: 'Password set',
    message: 'The password is set: you can now sign approval links with it.',
    page: passwordSetPage(username),
  };
}
