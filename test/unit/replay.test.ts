import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { describe, it } from '@jest/globals';
import { renderHtml } from '../../audit/html';
import { renderReplay } from '../../audit/render';
import { replay } from '../../audit/replay';
import { normalizeEvent, type ExecutionRecord, type HistoryEvent } from '../../handlers/domain/execution-record';

/** `aws stepfunctions get-execution-history` output, hand-checked: a crash, a retry, a failure, a redrive. */
const cliOutput = JSON.parse(
  readFileSync(path.join(import.meta.dirname, '../fixtures/history-redriven.json'), 'utf8'),
) as { events: Record<string, unknown>[] };

const ARN = 'arn:aws:states:eu-west-1:111122223333:execution:Keyrot-rotation:payroll-bot-20260301';

function record(events: HistoryEvent[], overrides: Partial<ExecutionRecord> = {}): ExecutionRecord {
  return {
    executionArn: ARN,
    stateMachineArn: 'arn:aws:states:eu-west-1:111122223333:stateMachine:Keyrot-rotation',
    name: 'payroll-bot-20260301',
    status: 'SUCCEEDED',
    startDate: '2026-03-01T10:00:00.000Z',
    stopDate: '2026-03-01T10:05:00.340Z',
    redriveCount: 1,
    input: { userName: 'payroll-bot' },
    events,
    ...overrides,
  };
}

const redriven = () => cliOutput.events.map(normalizeEvent);

describe('replay', () => {
  it('reads the official history format: UTC times, retries folded into a step, the redrive numbered', () => {
    const replayed = replay(record(redriven()));

    assert.equal(replayed.outcome, 'ROTATED');
    assert.equal(replayed.complete, true, replayed.gaps.join('; '));
    assert.equal(replayed.oldKeyId, 'AKIAOLD0000000000001');
    assert.equal(replayed.newKeyId, 'AKIANEW0000000000002');
    assert.deepEqual(
      replayed.steps.map((step) => [step.attempt, step.state, step.result, step.tries, step.durationMs]),
      [
        [0, 'Detect Keys', 'succeeded', 1, 760],
        [0, 'Create Access Key', 'failed', 2, 5590],
        [1, 'Create Access Key', 'succeeded', 1, 300],
        [1, 'Rotated', 'succeeded', 0, 10],
      ],
    );
    assert.equal(replayed.steps[0]?.enteredAt, '2026-03-01T10:00:00.050Z');
    assert.equal(
      replayed.steps[0]?.did,
      'ROTATE: AKIAOLD0000000000001 is 95 days old (maximum 90); key AKIAOLD0000000000001',
    );
    assert.deepEqual(replayed.steps[1]?.errors, [
      'Lambda.Unknown: The cause could not be determined because Lambda did not return an error type. Returned payload: {"errorMessage":"2026-03-01T10:00:03.899Z Task timed out after 3.00 seconds"}',
      'ServiceFailure: IAM is having a bad day',
    ]);
    assert.equal(replayed.steps[2]?.did, 'newKeyId AKIANEW0000000000002, secretVersionId v2');
    assert.equal(replayed.steps[3]?.did, 'ROTATED');
  });

  it('reads timestamps as the raw API sends them (epoch seconds) the same as ISO text', () => {
    const epoch = cliOutput.events.map((event) => ({
      ...event,
      timestamp: Date.parse(String(event.timestamp)) / 1000,
    }));

    assert.deepEqual(replay(record(epoch.map(normalizeEvent))), replay(record(redriven())));
  });

  it('says plainly where a history is incomplete', () => {
    const events = redriven().filter((event) => event.id !== 5 && event.id !== 6 && event.id !== 23);

    const replayed = replay(record(events));

    assert.equal(replayed.complete, false);
    assert.deepEqual(replayed.gaps, [
      'events 5–6 are missing',
      'the execution is SUCCEEDED but its history ends at event 22 (SucceedStateExited)',
    ]);
    assert.equal(replay(record(redriven().slice(3))).gaps[0], 'the history does not begin with ExecutionStarted');
    assert.deepEqual(replay(record([])).gaps, ['the history has no events']);
  });

  it('shows an aborted execution with who aborted it and why, the open step failed', () => {
    const events = redriven().slice(0, 9);
    events.push({
      id: 10,
      previousEventId: 9,
      timestamp: '2026-03-01T10:00:02.000Z',
      type: 'ExecutionAborted',
      executionAbortedEventDetails: { error: 'keyrot.Aborted', cause: 'aborted by ops: CR-7 withdrawn' },
    });

    const replayed = replay(record(events, { status: 'ABORTED', redriveCount: 0 }));

    assert.equal(replayed.outcome, 'ABORTED');
    assert.equal(replayed.reason, 'keyrot.Aborted: aborted by ops: CR-7 withdrawn');
    assert.equal(replayed.steps.at(-1)?.result, 'failed');
    assert.equal(replayed.complete, true);
  });

  it('replays a history of thousands of events: a long validation loop', () => {
    const events: HistoryEvent[] = redriven().slice(0, 6);
    const add = (type: string, details: Record<string, unknown> = {}) =>
      events.push({
        id: events.length + 1,
        previousEventId: events.length,
        timestamp: new Date(Date.parse('2026-03-01T10:01:00Z') + events.length * 1000).toISOString(),
        type,
        ...details,
      });
    for (let round = 0; round < 1000; round += 1) {
      add('TaskStateEntered', { stateEnteredEventDetails: { name: 'Check New Key Used', input: '{}' } });
      add('LambdaFunctionScheduled', { lambdaFunctionScheduledEventDetails: { resource: 'x', input: '{}' } });
      add('LambdaFunctionSucceeded', { lambdaFunctionSucceededEventDetails: { output: '{"used":false}' } });
      add('TaskStateExited', { stateExitedEventDetails: { name: 'Check New Key Used', output: '{}' } });
      add('WaitStateEntered', { stateEnteredEventDetails: { name: 'Wait Before Checking Again', input: '{}' } });
      add('WaitStateExited', { stateExitedEventDetails: { name: 'Wait Before Checking Again', output: '{}' } });
    }

    const replayed = replay(record(events, { status: 'RUNNING', redriveCount: 0 }));

    assert.equal(replayed.eventCount, 6006);
    assert.equal(replayed.steps.length, 2001);
    assert.equal(replayed.complete, true);
    assert.equal(replayed.outcome, 'RUNNING');
    assert.equal(replayed.steps.at(-1)?.did, 'waited 1.0 s');
  });
});

describe('the audit formats', () => {
  /** A rollback whose cause was written by someone hostile to spreadsheets and browsers. */
  const hostile = () => {
    const events = redriven();
    events[events.length - 1] = {
      ...events.at(-1)!,
      type: 'ExecutionFailed',
      executionFailedEventDetails: {
        error: 'ROLLED_BACK',
        cause: JSON.stringify({ errorMessage: '=HYPERLINK("http://x") <script>alert(1)</script> | a,"b"' }),
      },
    };
    return replay(record(events, { status: 'FAILED' }));
  };

  it('renders the same facts in text, JSON, CSV and Markdown', () => {
    const replayed = replay(record(redriven()));
    for (const format of ['text', 'csv', 'md'] as const) {
      const rendered = renderReplay(replayed, format);
      for (const fact of ['payroll-bot', 'AKIANEW0000000000002', 'Create Access Key', 'ROTATED', 'redriven 1x']) {
        assert.ok(rendered.includes(fact), `${format} lacks ${fact}`);
      }
    }
    assert.deepEqual(JSON.parse(renderReplay(replayed, 'json')), replayed);
  });

  it('keeps spreadsheets from running a cell as a formula and quotes commas and quotes', () => {
    const csv = renderReplay(hostile(), 'csv');

    const cause = `execution,,,Cause,,,,,"'=HYPERLINK(""http://x"") <script>alert(1)</script> | a,""b"""`;
    assert.ok(csv.split('\r\n').includes(cause), csv);
    assert.doesNotMatch(csv, /[,"]=HYPERLINK/);
    assert.equal(csv.split('\r\n')[0], 'record,run,time_utc,state,type,result,duration_ms,tries,detail');
  });

  it('escapes Markdown table cells and HTML', () => {
    const replayed = hostile();

    const md = renderReplay(replayed, 'md');
    assert.match(md, /&lt;script&gt;alert\(1\)&lt;\/script&gt; \\\| a,"b"/);
    assert.doesNotMatch(md, /<script>/);
    const html = renderHtml(replayed, undefined);
    assert.doesNotMatch(html, /<script>/);
    assert.match(html, /&lt;script&gt;alert\(1\)&lt;\/script&gt;/);
    assert.match(html, /no state machine definition/);
  });
});
