import { htmlText as escape } from '../shared/printable';
import type { Signature } from '../shared/schemas';
import { consequence, oldKeyWarning, type ApprovalRecord } from './approvals';

const STYLE = `
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;background:#f4f5f7;color:#1b1f24;line-height:1.5}
main{max-width:46rem;margin:2rem auto;background:#fff;padding:2rem;border-radius:8px;box-shadow:0 1px 3px #0002}
h1{font-size:1.5rem;margin-top:0}h2{font-size:1.15rem;margin-top:1.75rem}
table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:.4rem .5rem;border-bottom:1px solid #d0d4da;vertical-align:top}
th{width:12rem;font-weight:600}code{font-size:.95em}
.consequence{background:#fff4e5;border-left:4px solid #9a5b00;padding:.75rem 1rem}
.notice{padding:.75rem 1rem;border-left:4px solid #0b5394;background:#e8f0fb}
.error{border-left-color:#a4262c;background:#fde7e9}
.warning{border:2px solid #a4262c;border-left-width:8px;background:#fde7e9;padding:1rem;font-size:1.05rem}
label{display:block;font-weight:600;margin-top:1rem}
input[type=text],input[type=password],textarea{width:100%;box-sizing:border-box;padding:.5rem;border:1px solid #6b7280;border-radius:4px;font:inherit}
fieldset{border:1px solid #6b7280;border-radius:4px;margin-top:1rem}legend{font-weight:600;padding:0 .25rem}
fieldset label{display:inline;font-weight:400;margin:0 1.5rem 0 .25rem}
button{margin-top:1.5rem;padding:.6rem 1.4rem;font:inherit;font-weight:600;color:#fff;background:#0b5394;border:0;border-radius:4px;cursor:pointer}
button:focus,input:focus,textarea:focus{outline:3px solid #f0b400;outline-offset:1px}
small{color:#4b5563}`;

function layout(title: string, content: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<link rel="icon" href="data:,">
<title>${escape(title)} · keyrot</title>
<style>${STYLE}</style>
</head>
<body>
<main>
${content}
</main>
</body>
</html>
`;
}

function keyRows(record: ApprovalRecord): string {
  const known = new Map(record.keys.map((key) => [key.keyId, key]));
  return record.keyIds
    .map((id) => {
      const key = known.get(id);
      const role = id === record.oldKeyId ? 'old key' : 'new key';
      const detail = key
        ? `${key.status}, ${key.ageDays} days old (created ${key.createdAt}), last used ${key.lastUsedAt ?? 'never'}` +
          (id === record.oldKeyId ? sinceDistribution(record) : '')
        : 'created by this rotation';
      return `<tr><th scope="row">${role}</th><td><code>${escape(id)}</code><br><small>${escape(detail)}</small></td></tr>`;
    })
    .join('\n');
}

/** The old key's last use as the deletion gate read it, after the age and use detection saw. */
function sinceDistribution(record: ApprovalRecord): string {
  const use = record.oldKeyUse;
  if (!use) return '';
  if ('error' in use) return `; its use since the distribution could not be read (${use.error})`;
  const when = use.lastUsedAt ?? 'never';
  return use.usedAfterDistribution
    ? `; used AFTER the new key was distributed: last used ${when} (as of ${use.checkedAt})`
    : `; not used since the new key was distributed at ${use.distributedAt} (last used ${when}, as of ${use.checkedAt})`;
}

function summary(record: ApprovalRecord): string {
  return `<table>
<tr><th scope="row">Requested by</th><td>${escape(record.requestedBy)} at ${escape(record.requestedAt)}</td></tr>
<tr><th scope="row">IAM user</th><td><code>${escape(record.userName)}</code></td></tr>
${keyRows(record)}
<tr><th scope="row">Gate</th><td>${escape(record.state)}</td></tr>
<tr><th scope="row">Execution</th><td><code>${escape(record.executionId)}</code></td></tr>
<tr><th scope="row">Expires</th><td>${escape(record.expiresAt)} (UTC)</td></tr>
</table>`;
}

/** The prominent warning that a consumer still signs with the old key, or nothing. */
function warning(record: ApprovalRecord): string {
  const text = oldKeyWarning(record);
  if (!text) return '';
  return `<p class="warning" role="alert" id="old-key-in-use"><strong>Warning: the old key is still in use.</strong> ${escape(text)}. Find the consumer before you approve.</p>`;
}

/** The review page: what is asked, what approving does, and the signing form. */
export function reviewPage(record: ApprovalRecord, form: { action: string; csrf: string; problem?: string }): string {
  const problem = form.problem ? `<p class="notice error" role="alert">${escape(form.problem)}</p>` : '';
  return layout(
    `${record.state}: ${record.userName}`,
    `<h1>${escape(record.state)} for <code>${escape(record.userName)}</code></h1>
${problem}
${warning(record)}
<p class="consequence"><strong>Approving will</strong> ${escape(consequence(record))}. Rejecting rolls back to the old key.</p>
${summary(record)}
<h2>Sign your decision</h2>
<p>Your user name and password are checked at the moment you sign; the printed name on the record comes from your account.</p>
<form method="post" action="${escape(form.action)}">
<input type="hidden" name="csrf" value="${escape(form.csrf)}">
<label for="username">User name</label>
<input id="username" name="username" type="text" autocomplete="username" required>
<label for="password">Password</label>
<input id="password" name="password" type="password" autocomplete="current-password" required>
<fieldset>
<legend>Decision</legend>
<input id="approve" name="meaning" type="radio" value="APPROVED" required><label for="approve">Approve</label>
<input id="reject" name="meaning" type="radio" value="REJECTED"><label for="reject">Reject</label>
</fieldset>
<label for="reason">Reason</label>
<textarea id="reason" name="reason" rows="3" maxlength="1000" required></textarea>
<button type="submit">Sign decision</button>
</form>`,
  );
}

/** The page after a decision: the signature as recorded (21 CFR 11.50 manifestation). */
export function signedPage(record: ApprovalRecord, signature: Signature): string {
  const meaning = signature.meaning === 'APPROVED' ? 'Approved' : 'Rejected';
  return layout(
    `${meaning}: ${record.userName}`,
    `<h1>${meaning}: ${escape(record.state)} for <code>${escape(record.userName)}</code></h1>
<p class="notice" role="status">Your decision is recorded and the rotation has resumed.</p>
<table>
<tr><th scope="row">Signed by</th><td>${escape(signature.signer)} (${escape(signature.signerId)})</td></tr>
<tr><th scope="row">Meaning</th><td>${escape(signature.meaning)}</td></tr>
<tr><th scope="row">Reason</th><td>${escape(signature.reason)}</td></tr>
<tr><th scope="row">Signed at</th><td>${escape(signature.signedAt)} (UTC)</td></tr>
<tr><th scope="row">Keys</th><td><code>${signature.keyIds.map(escape).join(', ')}</code></td></tr>
<tr><th scope="row">Digest (SHA-256)</th><td><code>${escape(signature.digest)}</code></td></tr>
</table>`,
  );
}

/** A refusal, with the reason stated plainly. */
export function messagePage(title: string, message: string, record?: ApprovalRecord): string {
  return layout(
    title,
    `<h1>${escape(title)}</h1>
<p class="notice error" role="alert">${escape(message)}</p>
${record ? summary(record) : ''}`,
  );
}

/** The first sign-in form: an approver replaces the temporary password Cognito e-mailed. */
export function passwordPage(form: { action: string; csrf: string; problem?: string }): string {
  const problem = form.problem ? `<p class="notice error" role="alert">${escape(form.problem)}</p>` : '';
  return layout(
    'Set your password',
    `<h1>Set your approver password</h1>
${problem}
<p>Your administrator created your approver account, and Cognito e-mailed you a temporary password. Replace it with a password of your own here; you then sign approvals with your user name and that password.</p>
<p><small>A temporary password expires after some days: if yours has, ask the administrator for a new invitation. Your password is checked by the approvers' user pool and is never shown or stored by keyrot.</small></p>
<form method="post" action="${escape(form.action)}">
<input type="hidden" name="csrf" value="${escape(form.csrf)}">
<label for="username">User name</label>
<input id="username" name="username" type="text" autocomplete="username" required>
<label for="temporary">Temporary password (from the e-mail)</label>
<input id="temporary" name="temporaryPassword" type="password" autocomplete="current-password" required>
<label for="new">New password</label>
<input id="new" name="newPassword" type="password" autocomplete="new-password" required>
<label for="again">New password again</label>
<input id="again" name="newPasswordAgain" type="password" autocomplete="new-password" required>
<button type="submit">Set password</button>
</form>`,
  );
}

/** The page after a first password is set. */
export function passwordSetPage(username: string): string {
  return layout(
    'Password set',
    `<h1>Password set</h1>
<p class="notice" role="status">The password of <code>${escape(username)}</code> is set. You can now sign approval links with your user name and this password.</p>
<p><small>To sign, your user name must also be on keyrot's approver allow-list; your administrator puts it there.</small></p>`,
  );
}
