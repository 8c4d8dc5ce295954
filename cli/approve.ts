import { approvalLink, loadLinkKey } from '../handlers/domain/approval-links';
import { getApproval, waitingApprovals, type ApprovalRecord, type WaitingApproval } from '../handlers/domain/approvals';
import { clients, settings } from '../handlers/shared/clients';
import { jsonText, printable } from '../handlers/shared/printable';
import { listStored, processGone, readServerInfo, type StoredExecution } from '../local/store';
import { EXIT_CODES } from './outcome';

/** Exit codes of `keyrot approve` / `keyrot reject`. */
const EXIT = { SIGNED: 0, ERROR: 1, REFUSED: 4, WRONG_PASSWORD: 5, NOT_WAITING: EXIT_CODES.NOT_WAITING } as const;

/** Read a password from the terminal without echoing it. */
async function promptPassword(prompt: string): Promise<string> {
  const stdin = process.stdin;
  if (!stdin.isTTY) throw new Error('no terminal to read the password from: set KEYROT_APPROVER_PASSWORD');
  process.stderr.write(prompt);
  stdin.setRawMode(true);
  stdin.resume();
  let password = '';
  try {
    for await (const chunk of stdin) {
      for (const char of (chunk as Buffer).toString('utf8')) {
        if (char === '\r' || char === '\n') return password;
        if (char === '\u0003') throw new Error('cancelled');
        if (char === '\u007f') password = password.slice(0, -1);
        else password += char;
      }
    }
    return password;
  } finally {
    stdin.setRawMode(false);
    stdin.pause();
    process.stderr.write('\n');
  }
}

/** The approval page URL for a link or an id (the id needs the link key: operator access). */
async function resolveLink(approval: string, baseUrl: string | undefined): Promise<string> {
  if (/^https?:\/\//.test(approval)) return approval;
  if (!/^[0-9a-f]{32}$/.test(approval)) throw new Error(`"${approval}" is neither an approval link nor an approval id`);
  const base = baseUrl ?? settings().approvalBaseUrl ?? readServerInfo();
  if (!base) throw new Error('no approval URL: pass the full link, --url, or set KEYROT_APPROVAL_BASE_URL');
  return approvalLink(base.replace(/\/+$/, ''), approval, await loadLinkKey(clients.secrets, settings()));
}

const causeCode = (error: unknown) => (error as { cause?: { code?: string } }).cause?.code ?? String(error);

/** Whether fetch failed because nothing answers at the address (refused, reset, no such host). */
function unreachable(error: unknown): boolean {
  const code = (error as { cause?: { code?: string } } | undefined)?.cause?.code ?? '';
  return error instanceof TypeError && /ECONNREFUSED|ECONNRESET|ENOTFOUND|EHOSTUNREACH|UND_ERR_SOCKET/.test(code);
}

/** How an execution ended, as a clause: from the local record when this machine ran it. */
function ending(execution: StoredExecution | undefined): string | undefined {
  if (!execution) return undefined;
  if (processGone(execution))
    return `the process running execution ${execution.name} is gone (keyrot status ${execution.name} --local)`;
  const result = execution.output as { outcome?: string } | undefined;
  const outcome = result?.outcome ?? execution.error ?? execution.status;
  const cause = execution.cause ? `: ${execution.cause.slice(0, 200)}` : '';
  return `execution ${execution.name} ended ${outcome}${cause}`;
}

/**
 * Why nothing answers at the approval link, when the reason is that the rotation stopped
 * waiting: the local approval server lives only as long as the `keyrot rotate` that serves it.
 * Undefined when the approval may still be waiting (a network problem to report as such).
 */
async function notWaiting(link: string): Promise<string | undefined> {
  const url = new URL(link);
  const approvalId = url.pathname.split('/').at(-1) ?? '';
  const local = ['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname);
  let record: ApprovalRecord | undefined;
  try {
    record = /^[0-9a-f]{32}$/.test(approvalId) ? await getApproval(clients, settings(), approvalId) : undefined;
  } catch {
    // The approvals table is unreachable too: say what is known from the link alone.
  }
  const execution = record && listStored().find((stored) => stored.executionArn === record.executionId);
  if (!local && (!record || record.status === 'PENDING')) return undefined;
  const what = record
    ? `approval ${approvalId} (${record.state} for ${record.userName}, execution ${execution?.name ?? record.executionId})`
    : `approval ${approvalId}`;
  const how =
    ending(execution) ??
    (record && record.status !== 'PENDING'
      ? `the approval is ${record.status}`
      : `nothing answers at ${url.origin}: the keyrot rotate that served this link has ended`);
  return `${what} is no longer waiting for a decision: ${how}`;
}

/**
 * `keyrot approve|reject`: sign through the same pages an approver's browser uses (deployed
 * function URL or local server), authenticating with user name and password at signing time.
 */
export async function signFromTerminal(
  approval: string,
  options: { as: string; reason: string; meaning: 'APPROVED' | 'REJECTED'; url?: string; json: boolean },
): Promise<number> {
  const link = await resolveLink(approval, options.url);
  let page: Response;
  try {
    page = await fetch(link, { headers: { accept: 'application/json' }, signal: AbortSignal.timeout(30_000) });
  } catch (error) {
    if (!unreachable(error)) throw error;
    const why = await notWaiting(link);
    if (!why) throw new Error(`cannot reach the approval endpoint ${new URL(link).origin}: ${causeCode(error)}`);
    if (options.json) process.stdout.write(`${jsonText({ status: 'NOT_WAITING', message: why })}\n`);
    process.stderr.write(`keyrot: ${printable(why)}\n`);
    return EXIT.NOT_WAITING;
  }
  const review = (await page.json()) as {
    status: number;
    message: string;
    csrf?: string;
    approval?: Record<string, unknown>;
  };
  if (!review.csrf) {
    process.stderr.write(`keyrot: ${printable(review.message)}\n`);
    return EXIT.REFUSED;
  }
  if (!options.json) {
    const a = review.approval ?? {};
    process.stderr.write(
      `${printable(`${a.state} for ${a.userName}: keys ${(a.keyIds as string[]).join(', ')}, requested by ${a.requestedBy}`)}\n`,
    );
  }
  const password = process.env.KEYROT_APPROVER_PASSWORD ?? (await promptPassword(`password for ${options.as}: `));
  const signed = await fetch(link, {
    method: 'POST',
    headers: { accept: 'application/json', 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      csrf: review.csrf,
      username: options.as,
      password,
      meaning: options.meaning,
      reason: options.reason,
    }).toString(),
    signal: AbortSignal.timeout(30_000),
  });
  const result = (await signed.json()) as { status: number; message: string; signature?: Record<string, unknown> };
  if (options.json) process.stdout.write(`${jsonText(result)}\n`);
  else if (result.signature) {
    const s = result.signature;
    process.stdout.write(
      `${printable(`${s.meaning} by ${s.signer} at ${s.signedAt}: ${s.reason}`)}\n  digest ${printable(String(s.digest))}\n`,
    );
  } else process.stderr.write(`keyrot: ${printable(result.message)}\n`);
  if (result.status === 200) return EXIT.SIGNED;
  return result.status === 401 || result.status === 429 ? EXIT.WRONG_PASSWORD : EXIT.REFUSED;
}

/** The failed sign-ins on an approval, for its line in `keyrot approvals` (the list is in --json). */
function failedSignIns(row: Pick<ApprovalRecord, 'failedSignInCount' | 'throttledSignIns'>): string {
  if (!row.failedSignInCount && !row.throttledSignIns) return '';
  return `  failed sign-ins ${row.failedSignInCount ?? 0}, throttled ${row.throttledSignIns ?? 0}`;
}

/** `keyrot approvals`: the approvals that can still be decided (pending, not expired), a page of the index at a time. */
export async function listApprovals(options: { json: boolean }): Promise<number> {
  const rows: WaitingApproval[] = [];
  let printed = 0;
  for await (const page of waitingApprovals(clients, settings())) {
    // The index returns them soonest expiry first: text is printed as each page arrives.
    if (options.json) rows.push(...page);
    else for (const row of page) process.stdout.write(`${approvalLine(row)}\n`);
    printed += page.length;
  }
  if (options.json) process.stdout.write(`${jsonText(rows)}\n`);
  else if (printed === 0) process.stdout.write('no approvals are waiting\n');
  return 0;
}

/** One waiting approval's line in `keyrot approvals`. */
function approvalLine(row: WaitingApproval): string {
  return `${printable(
    `${row.approvalId}  ${row.state.padEnd(16)}  ${row.userName}  keys ${row.keyIds.join(',')}  ` +
      `by ${row.requestedBy}  expires ${row.expiresAt}`,
  )}${failedSignIns(row)}`;
}
