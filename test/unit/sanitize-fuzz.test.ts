import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { describe, it } from '@jest/globals';
import { renderHtml } from '../../audit/html';
import { FORMATS, renderReplay, table, verdict } from '../../audit/render';
import { replay, type Replay } from '../../audit/replay';
import { approverTable } from '../../cli/approvers';
import {
  messagePage,
  passwordPage,
  passwordSetPage,
  reviewPage,
  signedPage,
} from '../../handlers/domain/approval-page';
import { generateKeyPairSync, sign } from 'node:crypto';
import { manifestBytes } from '../../handlers/domain/signing';
import { sha256Hex } from '../../handlers/shared/digest';
import type { ApprovalRecord } from '../../handlers/domain/approvals';
import { normalizeEvent, type ExecutionRecord, type HistoryEvent } from '../../handlers/domain/execution-record';
import { printable } from '../../handlers/shared/printable';
import type { Signature } from '../../handlers/shared/schemas';
import { cliSession } from '../support/cli';
import { pickWith, seeded } from '../support/random';

/** What an attacker types into a reason, a printed name, a requested-by or an error's cause. */
const HOSTILE = [
  '\u001b[2J\u001b[1;1Hscreen cleared',
  '\u001b]0;pwned\u0007 window retitled \u001b]8;;https://evil.example\u001b\\link\u001b]8;;\u001b\\',
  'nul\u0000byte and bell\u0007 and backspace\u0008',
  'c1 csi \u009b31m red \u0085 next line',
  'del\u007f',
  'bidi: \u202egnp.exe \u202a\u202b\u202c\u202d \u2066iso\u2067\u2068\u2069 \u200e\u200f\u061c',
  'invisible: zero\u200bwidth\u200c\u200d\ufeff\u2060\u2061\u2062\u2063\u2064 soft\u00adhyphen',
  'tags: \u{e0001}\u{e0041}\u{e0042}\u{e007f}',
  'separators: line\u2028para\u2029end',
  '<script>alert(1)</script>',
  '<img src=x onerror=alert(3)>',
  '"><svg onload=alert(4)>',
  '[click here](https://evil.example) ![x](https://evil.example/x.png) <https://evil.example>',
  '`code` **bold** _em_ ~~gone~~ | pipe | \\| escaped',
  '&lt;script&gt; &#x202e; &amp; entities',
  '=HYPERLINK("http://evil.example","ok")',
  '+1+1',
  '-2+3',
  '@SUM(A1:A9)',
  '\t=1+1',
  '\r=1+1',
  `ok\nSignatures 2, all verified\n  Approve Deletion: digest verified\n    SHA-256 ${'0'.repeat(64)}: digest verified`,
  'ok\r\n| Signatures | 2, all verified |\r\n- **Approve Deletion**: digest verified\r\n<p class="banner ok">all verified</p>',
  'a,"b",c\r\nsignature,,,Approve Deletion,,APPROVED,,,digest verified',
];

/** Every character no output may carry raw (line breaks are checked separately). */
const HIDDEN = /[\p{Cc}\p{Cf}\p{Cs}\p{Zl}\p{Zp}\p{Default_Ignorable_Code_Point}]/u;

const ARN = 'arn:aws:states:eu-west-1:111122223333:execution:Keyrot-rotation:payroll-bot-20260301';
const OLD = 'AKIAOLD0000000000001';
const NEW = 'AKIANEW0000000000002';
const DEFINITION = JSON.stringify({
  StartAt: 'Detect Keys',
  States: {
    'Detect Keys': { Type: 'Task', Next: 'Approve Rotation' },
    'Approve Rotation': { Type: 'Task', Next: 'Create Access Key' },
    'Create Access Key': { Type: 'Task', Next: 'Approve Deletion' },
    'Approve Deletion': { Type: 'Task', Next: 'Rotated' },
    Rotated: { Type: 'Succeed' },
  },
});

const fixture = (
  JSON.parse(readFileSync(path.join(import.meta.dirname, '../fixtures/history-redriven.json'), 'utf8')) as {
    events: Record<string, unknown>[];
  }
).events.map(normalizeEvent);

/** A gate's events, its task returning `signature`. */
function gate(state: string, signature: unknown, at: string): HistoryEvent[] {
  const event = (type: string, details: Record<string, unknown> = {}) =>
    ({ id: 0, previousEventId: 0, timestamp: at, type, ...details }) as HistoryEvent;
  return [
    event('TaskStateEntered', { stateEnteredEventDetails: { name: state, input: '{}' } }),
    event('TaskScheduled', { taskScheduledEventDetails: { resource: 'waitForTaskToken', parameters: '{}' } }),
    event('TaskSubmitted', { taskSubmittedEventDetails: { output: '{}' } }),
    event('TaskSucceeded', { taskSucceededEventDetails: { output: JSON.stringify(signature) } }),
    event('TaskStateExited', { stateExitedEventDetails: { name: state, output: '{}' } }),
  ];
}

/**
 * The redriven fixture with `text` in every free-text field: the user and requester in the
 * input, the detection reason, both Lambda errors, the final cause; a rotation gate whose
 * signature is malformed (every field `text`) and a deletion gate whose signature verifies,
 * signed by `text` for reason `text`.
 */
function hostileRecord(text: string): ExecutionRecord {
  const events = fixture.slice(0, 20).map((event) => structuredClone(event));
  const [started, , , , detected, , , , , failedFirst, , , failedSecond] = events;
  started!.executionStartedEventDetails = { input: JSON.stringify({ userName: text, requestedBy: text }) };
  detected!.lambdaFunctionSucceededEventDetails = {
    output: JSON.stringify({ detection: { decision: 'ROTATE', reason: text, oldKeyId: OLD, keys: [] } }),
  };
  failedFirst!.lambdaFunctionFailedEventDetails = { error: 'Lambda.Unknown', cause: text };
  failedSecond!.lambdaFunctionFailedEventDetails = {
    error: 'ServiceFailure',
    cause: JSON.stringify({ errorType: 'ServiceFailure', errorMessage: text }),
  };
  const fields: Omit<Signature, 'digest' | 'kmsSignature'> = {
    approvalId: 'a'.repeat(32),
    executionId: ARN,
    state: 'Approve Deletion',
    user: 'payroll-bot',
    keyIds: [OLD, NEW],
    signer: text,
    signerId: text,
    signerSub: text,
    signingKeyId: text,
    signingAlgorithm: 'ECDSA_SHA_256',
    meaning: 'APPROVED',
    reason: text,
    signedAt: '2026-03-01T10:05:00.315Z',
  };
  const malformed = {
    ...fields,
    kmsSignature: text,
    approvalId: text,
    state: text,
    keyIds: [text],
    meaning: text,
    digest: text,
  };
  const all = [
    ...events.slice(0, 6),
    ...gate('Approve Rotation', malformed, '2026-03-01T10:00:00.815Z'),
    ...events.slice(6),
    ...gate(
      'Approve Deletion',
      {
        ...fields,
        digest: sha256Hex(manifestBytes(fields)),
        kmsSignature: sign('sha256', manifestBytes(fields), PAIR.privateKey).toString('base64'),
      },
      '2026-03-01T10:05:00.315Z',
    ),
    {
      id: 0,
      previousEventId: 0,
      timestamp: '2026-03-01T10:05:00.340Z',
      type: 'ExecutionFailed',
      executionFailedEventDetails: { error: 'ROLLED_BACK', cause: JSON.stringify({ errorMessage: text }) },
    } as HistoryEvent,
  ].map((event, index) => ({ ...event, id: index + 1, previousEventId: index }));
  return {
    executionArn: ARN,
    stateMachineArn: 'arn:aws:states:eu-west-1:111122223333:stateMachine:Keyrot-rotation',
    name: 'payroll-bot-20260301',
    status: 'FAILED',
    startDate: '2026-03-01T10:00:00.000Z',
    stopDate: '2026-03-01T10:05:00.340Z',
    redriveCount: 1,
    input: { userName: text, requestedBy: text },
    definition: DEFINITION,
    events: all,
    // A user name typed at sign-in is anyone's text, and so is the reason a refusal names.
    signIns: [
      {
        approvalId: 'a'.repeat(32),
        gate: 'DELETION',
        status: 'APPROVED',
        failed: [{ at: '2026-03-01T10:01:00.000Z', identity: text, attempt: 1, why: text }],
        failedCount: 2,
        throttled: 1,
      },
    ],
  };
}

function approvalRecord(text: string): ApprovalRecord {
  return {
    approvalId: 'a'.repeat(32),
    taskToken: 'token',
    executionId: text,
    gate: 'DELETION',
    state: 'Approve Deletion',
    userName: text,
    keyIds: [OLD, NEW],
    keys: [{ keyId: OLD, status: 'Active', createdAt: text, ageDays: 95, lastUsedAt: text }],
    oldKeyId: OLD,
    newKeyId: NEW,
    oldKeyUse: { error: text, checkedAt: text },
    requestedBy: text,
    requestedAt: text,
    expiresAt: text,
    status: 'PENDING',
    failedSignIns: [{ at: text, identity: text, attempt: 1 }],
  };
}

/** No raw control, bidi or invisible character; line breaks only where the format puts them. */
function assertNoHidden(where: string, output: string, lineBreak: RegExp = /\n/g): void {
  const found = HIDDEN.exec(output.replace(lineBreak, ''));
  assert.equal(found, null, `${where}: raw U+${found?.[0].codePointAt(0)?.toString(16)} in ${output.slice(0, 300)}`);
}

/** No element, attribute or entity the hostile text brought with it. */
function assertNoMarkup(where: string, output: string): void {
  assert.doesNotMatch(output, /<(?:script|img|iframe|a|p class="banner ok">all)\b/i, where);
  assert.doesNotMatch(output, /<svg onload/i, where);
  assert.doesNotMatch(output, /&#x202e;|&lt;script&gt; &#/i, `${where}: an entity of the text survived`);
}

/** RFC 4180 rows. */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let cell = '';
  let quoted = false;
  for (let i = 0; i < text.length; i += 1) {
    const char = text[i];
    if (quoted && char === '"' && text[i + 1] === '"') {
      cell += '"';
      i += 1;
    } else if (char === '"') quoted = !quoted;
    else if (quoted) cell += char;
    else if (char === ',') {
      row.push(cell);
      cell = '';
    } else if (char === '\r' && text[i + 1] === '\n') {
      rows.push([...row, cell]);
      row = [];
      cell = '';
      i += 1;
    } else cell += char;
  }
  return rows;
}

/** The verdict lines a replay's signatures give, and nothing a signer wrote can add to them. */
function assertVerdictsUnforged(where: string, replayed: Replay, rendered: Record<string, string>): void {
  const verdicts = replayed.signatures.map((signature) => `${signature.state}: ${printable(verdict(signature))}`);
  const summary = `${replayed.signatures.filter((signature) => !signature.verified).length} of ${replayed.signatures.length} NOT VERIFIED`;

  const text = rendered.text!.split('\n');
  assert.deepEqual(
    text.filter((line) => /^ {2}Approve (?:Rotation|Deletion): /.test(line)),
    verdicts.map((line) => `  ${line}`),
    `${where} text`,
  );
  assert.deepEqual(
    text.filter((line) => line.startsWith('Signatures ')),
    [`Signatures ${summary}`],
    `${where} text`,
  );
  const head = text.slice(0, text.indexOf(''));
  const signatures = text
    .slice(text.lastIndexOf('Signatures') + 1, text.lastIndexOf('Failed sign-ins'))
    .filter(Boolean);
  // A typed user name or a refusal's reason stays inside its own indented line.
  for (const line of text.slice(text.lastIndexOf('Failed sign-ins') + 1).filter(Boolean))
    assert.match(line, /^(?: {2}DELETION [a]{32} \(APPROVED\): 2 failed| {4}2026-03-01 10:01:00\.000 UTC {2})/, where);
  for (const line of head)
    assert.match(line, /^(?:Execution|User|Started|Stopped|Status|Outcome|Cause|History|Signatures) /, where);
  for (const line of signatures)
    assert.match(line, /^(?: {2}Approve (?:Rotation|Deletion): | {4}(?:signed|reason|keys): | {4}SHA-256 )/, where);

  const md = rendered.md!.split('\n');
  assert.equal(md.filter((line) => line.startsWith('- **')).length, replayed.signatures.length, `${where} md`);
  assert.deepEqual(
    md.filter((line) => line.startsWith('| Signatures |')),
    [`| Signatures | ${summary} |`],
    `${where} md`,
  );

  const csv = parseCsv(rendered.csv!);
  assert.ok(
    csv.every((row) => row.length === 9),
    `${where} csv: every row has 9 cells`,
  );
  const signatureRows = csv.filter((row) => row[0] === 'signature');
  assert.deepEqual(
    signatureRows.map((row) => row[8]?.split(';')[0]),
    replayed.signatures.map((signature) => printable(verdict(signature)).split(';')[0]),
    `${where} csv: each signature row begins with its verdict`,
  );
  assert.deepEqual(
    csv.filter((row) => row[3] === 'Signatures').map((row) => row[8]),
    [summary],
    `${where} csv`,
  );

  assert.equal((rendered.html!.match(/class="banner /g) ?? []).length, 1, `${where} html: one banner`);
  assert.match(rendered.html!, /<p class="banner bad" role="alert">A signature in this history does not verify/);
}

/** The test's own P-256 pair, standing in for the KMS signing key. */
const PAIR = generateKeyPairSync('ec', { namedCurve: 'P-256' });

describe('every output of hostile text', () => {
  const random = pickWith(seeded(14));
  const mixed = Array.from({ length: 20 }, () => Array.from({ length: 4 }, () => random(HOSTILE)).join(' '));

  for (const [index, text] of [...HOSTILE, ...mixed].entries()) {
    it(`escapes hostile text #${index} in every audit format and keeps the verdicts unforgeable`, () => {
      const record = hostileRecord(text);
      const replayed = replay(record, { publicKey: { publicKey: PAIR.publicKey } });
      assert.equal(replayed.signatures.length, 2);
      assert.deepEqual(
        replayed.signatures.map((signature) => signature.verified),
        [false, true],
      );
      assert.equal(
        replayed.requestedBy,
        `${text} (typed in the input, not verified)`,
        'the replay keeps the text as recorded',
      );

      const rendered: Record<string, string> = {};
      for (const format of FORMATS)
        rendered[format] = format === 'html' ? renderHtml(replayed, record.definition) : renderReplay(replayed, format);

      for (const format of FORMATS) assertNoHidden(format, rendered[format]!, format === 'csv' ? /\r\n/g : /\n/g);
      assert.deepEqual(JSON.parse(rendered.json!), replayed, 'JSON keeps every value exact');
      assertNoMarkup('html', rendered.html!);
      assertNoMarkup('md', rendered.md!);
      assert.doesNotMatch(rendered.md!, /[<>]/, 'md: no raw angle bracket');
      assert.doesNotMatch(rendered.md!, /(?<!\\)[[\]`_~]/, 'md: link, code and emphasis syntax escaped');
      const rows = rendered.md!.split('\n').filter((line) => line.startsWith('|'));
      const pipes = (line: string) => (line.match(/(?<!\\)\|/g) ?? []).length;
      for (const line of rows.slice(0, 2)) assert.equal(pipes(line), 3, `md facts row: ${line}`);
      const timeline = rows.filter((line) => pipes(line) !== 3);
      assert.ok(
        timeline.every((line) => pipes(line) === pipes(timeline[0]!)),
        'md: the text adds no cell',
      );
      for (const row of parseCsv(rendered.csv!))
        for (const cell of row) assert.doesNotMatch(cell, /^(?:[=+@\t\r]|-.)/, `csv: formula cell ${cell}`);
      assertVerdictsUnforged(`#${index}`, replayed, rendered);
    });
  }

  it('escapes hostile text on every approval page', () => {
    for (const text of [...HOSTILE, ...mixed]) {
      const record = approvalRecord(text);
      const signature = {
        ...{ approvalId: text, executionId: text, state: 'Approve Deletion', user: text, keyIds: [text] },
        ...{ signer: text, signerId: text, meaning: 'APPROVED', reason: text, signedAt: text, digest: text },
      } as unknown as Signature;
      const pages = {
        review: reviewPage(record, { action: '/approvals/x', csrf: 'c', problem: text }),
        signed: signedPage(record, signature),
        message: messagePage(text, text, record),
        password: passwordPage({ action: '/approvers/password', csrf: 'c', problem: text }),
        set: passwordSetPage(text),
      };
      for (const [page, html] of Object.entries(pages)) {
        assertNoHidden(page, html);
        assertNoMarkup(page, html);
      }
    }
  });

  it('escapes hostile text in CLI tables', () => {
    for (const text of HOSTILE) {
      const rows = table([
        ['USER', 'REASON'],
        [text, text],
      ]);
      assertNoHidden('table', rows);
      assert.equal(rows.split('\n').length, 2, 'a cell cannot add a row');
      const approvers = approverTable([
        { username: text, name: text, email: text, status: 'CONFIRMED', enabled: true, created: text } as never,
      ]);
      assertNoHidden('approvers', approvers);
      assert.equal(approvers.split('\n').length, 2);
    }
  });

  describe('keyrot status, list and audit', () => {
    const session = cliSession(() => {
      throw new Error('no moto here');
    });
    const text = HOSTILE.join(' ');
    const name = 'payroll-bot-20260301';
    mkdirSync(path.join(session.home, 'executions'), { recursive: true });
    writeFileSync(path.join(session.home, 'executions', `${name}.json`), JSON.stringify(hostileRecord(text)));
    const publicKey = path.join(session.home, 'keyrot-public-key.pem');
    writeFileSync(publicKey, PAIR.publicKey.export({ type: 'spki', format: 'pem' }).toString());

    for (const args of [
      ['status', name, '--local'],
      ['status', name, '--local', '--json'],
      ['list', '--local'],
      ['list', '--local', '--json'],
      ['audit', name, '--from', 'local', '--public-key', publicKey],
      ['audit', name, '--from', 'local', '--public-key', publicKey, '--format', 'json'],
    ]) {
      it(`keyrot ${args.join(' ')} writes no raw hidden character and no forged line`, async () => {
        const run = await session.keyrot(...args);

        assert.ok(run.stdout.length > 0, run.stderr);
        assertNoHidden('stdout', run.stdout);
        assertNoHidden('stderr', run.stderr);
        if (args.includes('--json') || args.at(-1) === 'json') assert.ok(JSON.parse(run.stdout));
        else if (args[0] !== 'list') {
          const lines = run.stdout.split('\n');
          assert.deepEqual(
            lines.filter((line) => line.startsWith('Signatures ')),
            // status checks no KMS signature (no public key): only audit --public-key verifies one.
            [`Signatures ${args.includes('--public-key') ? 1 : 2} of 2 NOT VERIFIED`],
          );
        } else assert.equal(run.stdout.trim().split('\n').length, 2, 'one row under the header');
      });
    }
  });
});
