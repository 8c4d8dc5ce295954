import { jsonText, printable } from '../handlers/shared/printable';
import type { Replay, ReplaySignature, ReplayStep } from './replay';

/** The export formats of `keyrot audit`. */
export const FORMATS = ['text', 'json', 'csv', 'md', 'html'] as const;
export type Format = (typeof FORMATS)[number];

/** `2026-11-22T22:47:48.623Z` as `2026-11-22 22:47:48.623 UTC`. */
export function utc(iso: string | null): string {
  return iso ? `${iso.replace('T', ' ').replace('Z', '')} UTC` : '-';
}

/** A duration a person reads at a glance. */
export function duration(ms: number | null): string {
  if (ms === null) return '-';
  if (ms < 1000) return `${ms} ms`;
  if (ms < 120_000) return `${(ms / 1000).toFixed(1)} s`;
  if (ms < 7_200_000) return `${(ms / 60_000).toFixed(1)} min`;
  return `${(ms / 3_600_000).toFixed(1)} h`;
}

/** The signature as 21 CFR 11.50 wants it shown: printed name, date and time, meaning. */
export function manifestation(signature: ReplaySignature): string {
  return `${signature.meaning} by ${signature.signer} (${signature.signerId}) at ${utc(signature.signedAt)}`;
}

/** Verified (the KMS signature and its binding hold), FORGED (and why), or NOT VERIFIED (no public key). */
export function verdict(signature: ReplaySignature): string {
  if (signature.verified) return `verified: KMS signature by ${signature.signingKeyId}`;
  return `${signature.forged ? 'FORGED' : 'NOT VERIFIED'}: ${signature.problems.join('; ')}`;
}

/** The history's completeness in one sentence. */
export function completeness(replay: Replay): string {
  const running = replay.status === 'RUNNING' ? ', still running' : '';
  return replay.complete
    ? `${replay.eventCount} events, complete${running}`
    : `${replay.eventCount} events, INCOMPLETE: ${replay.gaps.join('; ')}`;
}

/**
 * Whether every signature verifies, counted from the verification itself: the one place an
 * output says so, at a fixed label no free text can reach.
 */
export function signatureSummary(replay: Replay): string {
  const total = replay.signatures.length;
  const failing = replay.signatures.filter((signature) => !signature.verified).length;
  if (total === 0) return 'none';
  return failing === 0 ? `${total}, all verified` : `${failing} of ${total} NOT VERIFIED`;
}

function keys(replay: Replay): string {
  if (replay.newKeyId) return `old ${replay.oldKeyId ?? '-'} -> new ${replay.newKeyId}`;
  return replay.oldKeyId ? `key ${replay.oldKeyId}` : 'no key';
}

/** The execution's header lines as label/value pairs, shared by every format. */
export function headline(replay: Replay): [string, string][] {
  return [
    ['Execution', replay.executionArn],
    [
      'User',
      `${replay.user ?? '(none in the input)'}${replay.requestedBy ? `, requested by ${replay.requestedBy}` : ''}`,
    ],
    ['Started', utc(replay.startDate)],
    ['Stopped', utc(replay.stopDate)],
    ['Status', `${replay.status}${replay.redriveCount > 0 ? `, redriven ${replay.redriveCount}x` : ''}`],
    ['Outcome', `${replay.outcome}: ${keys(replay)}`],
    ['Cause', replay.reason ?? '-'],
    ['History', completeness(replay)],
    ['Signatures', signatureSummary(replay)],
  ];
}

/** A step's name as a timeline row shows it: indented under its Map or Parallel, with its Map item. */
export function stateLabel(step: ReplayStep, indent = '  '): string {
  return `${indent.repeat(step.depth)}${step.state}${step.iteration === null ? '' : ` [item ${step.iteration}]`}`;
}

/** Where a nested step ran, for formats without indentation. */
function placeOf(step: ReplayStep): string {
  if (!step.parent) return '';
  return `in ${step.parent}${step.iteration === null ? '' : ` item ${step.iteration}`}`;
}

const exitTime = (step: ReplayStep) => (step.exitedAt ? step.exitedAt.slice(11, 23) : '-');

const attemptLabel = (replay: Replay, step: ReplayStep) => (replay.redriveCount > 0 ? `${step.attempt}` : '');

/** Rows as aligned columns, two spaces apart (the last column unpadded); every cell printable(). */
export function table(cells: string[][]): string {
  const rows = cells.map((row) => row.map(printable));
  const widths = rows[0]?.map((_, column) => Math.max(...rows.map((row) => (row[column] ?? '').length))) ?? [];
  return rows
    .map((row) =>
      row
        .map((cell, column) => (column === row.length - 1 ? cell : cell.padEnd(widths[column] ?? 0)))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

/**
 * The failed sign-ins at the execution's approvals, one line per approval then one per listed
 * failure: plain text (each renderer escapes it as its format needs). None when there were none.
 */
export function signInLines(replay: Replay): { approval: string; failures: string[] }[] {
  return replay.signIns.map((approval) => ({
    approval:
      `${approval.gate ?? 'approval'} ${approval.approvalId} (${approval.status}): ` +
      `${approval.failedCount} failed sign-in(s), ${approval.throttled} refused by the throttle` +
      (approval.failedCount > approval.failed.length ? `; the first ${approval.failed.length} listed` : ''),
    failures: approval.failed.map(
      (failure) =>
        `${utc(failure.at)}  ${failure.identity}  attempt ${failure.attempt}${failure.why ? `: ${failure.why}` : ''}`,
    ),
  }));
}

function text(replay: Replay): string {
  const head = headline(replay).map(([label, value]) => `${label.padEnd(10)} ${printable(value)}`);
  const redriven = replay.redriveCount > 0;
  const rows = [
    ['#', ...(redriven ? ['Run'] : []), 'Time (UTC)', 'Exited', 'State', 'Result', 'Took', 'What it did'],
    ...replay.steps.map((step, index) => [
      String(index + 1),
      ...(redriven ? [attemptLabel(replay, step)] : []),
      step.enteredAt.slice(0, 23).replace('T', ' '),
      exitTime(step),
      stateLabel(step),
      step.result,
      duration(step.durationMs),
      [step.did, ...step.errors.filter((error) => !step.did.includes(error)).map((error) => `error ${error}`)]
        .filter(Boolean)
        .join(' | '),
    ]),
  ];
  const signatures =
    replay.signatures.length === 0
      ? ['  none']
      : // The verdict leads the block, before any text a signer wrote; free text has no newline left.
        replay.signatures.flatMap((signature) => [
          `  ${signature.state}: ${printable(verdict(signature))}`,
          `    signed: ${printable(manifestation(signature))}`,
          `    reason: ${printable(signature.reason)}`,
          `    keys: ${printable(signature.keyIds.join(', '))}; approval ${printable(signature.approvalId)}`,
          `    SHA-256 ${printable(signature.digest)}`,
        ]);
  const signIns = signInLines(replay).flatMap(({ approval, failures }) => [
    `  ${printable(approval)}`,
    ...failures.map((failure) => `    ${printable(failure)}`),
  ]);
  return [
    ...head,
    '',
    table(rows),
    '',
    'Signatures',
    ...signatures,
    '',
    'Failed sign-ins',
    ...(signIns.length ? signIns : ['  none']),
    '',
  ].join('\n');
}

/** One CSV cell: printable(), quoted when needed, and never a formula a spreadsheet would run. */
export function csvCell(value: string | number | null): string {
  const cell = value === null ? '' : printable(String(value));
  // A leading = + - @ (or tab, CR) would make a spreadsheet run the cell as a formula; a lone - is a blank.
  const safe = /^(?:[=+@\t\r]|-.)/.test(cell) ? `'${cell}` : cell;
  return /[",\n\r]/.test(safe) ? `"${safe.replace(/"/g, '""')}"` : safe;
}

/** Rows as CSV with CRLF line ends (RFC 4180). */
export function toCsv(rows: (string | number | null)[][]): string {
  return `${rows.map((row) => row.map(csvCell).join(',')).join('\r\n')}\r\n`;
}

function csv(replay: Replay): string {
  const rows: (string | number | null)[][] = [
    ['record', 'run', 'time_utc', 'state', 'type', 'result', 'duration_ms', 'tries', 'detail'],
    ...headline(replay).map(([label, value]) => ['execution', null, null, label, null, null, null, null, value]),
    ...replay.steps.map((step) => [
      'step',
      step.attempt,
      step.enteredAt,
      step.state,
      step.type,
      step.result,
      step.durationMs,
      step.tries,
      [
        placeOf(step),
        step.did,
        ...step.errors.map((error) => `error ${error}`),
        step.exitedAt ? `exited ${step.exitedAt}` : '',
      ]
        .filter(Boolean)
        .join(' | '),
    ]),
    ...replay.signatures.map((signature) => [
      'signature',
      null,
      signature.signedAt,
      signature.state,
      null,
      signature.meaning,
      null,
      null,
      // The verdict first, the signer's free text last.
      `${verdict(signature)}; sha256 ${signature.digest}; keys: ${signature.keyIds.join(' ')}; signer: ${signature.signer} (${signature.signerId}); reason: ${signature.reason}`,
    ]),
    ...signInLines(replay).flatMap(({ approval, failures }) =>
      [approval, ...failures].map((line) => ['sign-in', null, null, null, null, 'failed', null, null, line]),
    ),
  ];
  return `${rows.map((row) => row.map(csvCell).join(',')).join('\r\n')}\r\n`;
}

/**
 * Text as Markdown shows it literally: printable(), HTML written as entities (no tag, no
 * entity of the text's own survives), and the inline syntax (emphasis, code, links, tables)
 * backslash-escaped. Never inside a code span, where backslashes do not escape.
 */
export const mdCell = (value: string) =>
  printable(value)
    .replace(/[\\`*_[\]|~]/g, '\\$&')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;');

function markdown(replay: Replay): string {
  const redriven = replay.redriveCount > 0;
  const header = [
    '#',
    ...(redriven ? ['Run'] : []),
    'Time (UTC)',
    'Exited (UTC)',
    'State',
    'Result',
    'Took',
    'What it did',
    'Errors',
  ];
  const lines = [
    `# Rotation ${mdCell(replay.name)}: ${mdCell(replay.outcome)}`,
    '',
    '| | |',
    '|---|---|',
    ...headline(replay).map(([label, value]) => `| ${label} | ${mdCell(value)} |`),
    '',
    '## Timeline',
    '',
    `| ${header.join(' | ')} |`,
    `|${header.map(() => '---').join('|')}|`,
    ...replay.steps.map(
      (step, index) =>
        `| ${[
          String(index + 1),
          ...(redriven ? [attemptLabel(replay, step)] : []),
          utc(step.enteredAt),
          utc(step.exitedAt),
          stateLabel(step, '↳ '),
          step.result,
          duration(step.durationMs),
          step.did,
          step.errors.join('; '),
        ]
          .map(mdCell)
          .join(' | ')} |`,
    ),
    '',
    '## Signatures',
    '',
    ...(replay.signatures.length === 0
      ? ['None.']
      : replay.signatures.flatMap((signature) => [
          `- **${mdCell(signature.state)}**: ${mdCell(verdict(signature))}  `,
          `  Signed: ${mdCell(manifestation(signature))}  `,
          `  Reason: ${mdCell(signature.reason)}  `,
          `  Keys: ${mdCell(signature.keyIds.join(', '))}; approval ${mdCell(signature.approvalId)}; SHA-256 ${mdCell(signature.digest)}`,
        ])),
    '',
    '## Failed sign-ins',
    '',
    ...(replay.signIns.length === 0
      ? ['None.']
      : signInLines(replay).flatMap(({ approval, failures }) => [
          `- ${mdCell(approval)}`,
          ...failures.map((failure) => `  - ${mdCell(failure)}`),
        ])),
    '',
  ];
  return lines.join('\n');
}

/** Render a replay in a text format (HTML has its own module, it needs the definition). */
export function renderReplay(replay: Replay, format: Exclude<Format, 'html'>): string {
  // JSON keeps every value exact; hidden characters travel as \u escapes (see jsonText).
  if (format === 'json') return `${jsonText(replay, 2)}\n`;
  if (format === 'csv') return csv(replay);
  if (format === 'md') return markdown(replay);
  return text(replay);
}
