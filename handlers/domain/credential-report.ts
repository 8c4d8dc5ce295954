import { GenerateCredentialReportCommand, GetCredentialReportCommand, type IAMClient } from '@aws-sdk/client-iam';

/** One access key slot of a user in the credential report (IAM reports at most two). */
export interface ReportedKey {
  slot: 1 | 2;
  active: boolean;
  /** When the key was created ("last rotated" in IAM's words). */
  createdAt: string;
  lastUsedAt: string | null;
}

export interface ReportedUser {
  user: string;
  arn: string;
  keys: ReportedKey[];
}

const date = (value: string | undefined) => (value && value !== 'N/A' && value !== 'no_information' ? value : null);

/** Parse the credential report CSV (no quoted fields in it) into users and their keys. */
export function parseCredentialReport(csv: string): ReportedUser[] {
  const [header, ...lines] = csv.trim().split(/\r?\n/);
  const columns = (header ?? '').split(',');
  return lines.map((line) => {
    const cells = line.split(',');
    const cell = (name: string) => cells[columns.indexOf(name)];
    const keys: ReportedKey[] = [];
    for (const slot of [1, 2] as const) {
      const createdAt = date(cell(`access_key_${slot}_last_rotated`));
      if (!createdAt) continue;
      keys.push({
        slot,
        active: cell(`access_key_${slot}_active`) === 'true',
        createdAt,
        lastUsedAt: date(cell(`access_key_${slot}_last_used_date`)),
      });
    }
    return { user: cell('user') ?? '', arn: cell('arn') ?? '', keys };
  });
}

/**
 * The IAM credential report: generate, poll (bounded) until it is ready, get. Two calls per
 * account however many users there are, where a per-user listing takes two or more per user.
 */
export async function readCredentialReport(
  iam: IAMClient,
  options: { pollMs?: number; timeoutMs?: number; progress?: (line: string) => void } = {},
): Promise<ReportedUser[]> {
  const deadline = Date.now() + (options.timeoutMs ?? 120_000);
  for (;;) {
    const generated = await iam.send(new GenerateCredentialReportCommand({}));
    if (generated.State === 'COMPLETE') break;
    if (Date.now() > deadline) throw new Error('the IAM credential report was not ready in time');
    options.progress?.(`credential report: ${generated.State ?? 'STARTED'}, waiting...`);
    await new Promise((resolve) => setTimeout(resolve, options.pollMs ?? 2000));
  }
  const report = await iam.send(new GetCredentialReportCommand({}));
  return parseCredentialReport(new TextDecoder().decode(report.Content));
}
