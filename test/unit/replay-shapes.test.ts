import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { describe, it } from '@jest/globals';
import { renderHtml } from '../../audit/html';
import { FORMATS, renderReplay } from '../../audit/render';
import { replay, type Replay } from '../../audit/replay';
import { normalizeEvent, type ExecutionRecord } from '../../handlers/domain/execution-record';

/**
 * One history per state type in the official GetExecutionHistory format (see
 * test/fixtures/make-histories.py for how each was made), with the machine that wrote it.
 */
const FIXTURES = path.join(import.meta.dirname, '../fixtures');
const machines = JSON.parse(readFileSync(path.join(FIXTURES, 'history-machines.json'), 'utf8')) as Record<
  string,
  { executionArn: string; stateMachineArn: string; status: string; definition: string }
>;

function recordOf(shape: string): ExecutionRecord {
  const machine = machines[shape]!;
  const { events } = JSON.parse(readFileSync(path.join(FIXTURES, `history-${shape}.json`), 'utf8')) as {
    events: Record<string, unknown>[];
  };
  const normalized = events.map(normalizeEvent);
  return {
    executionArn: machine.executionArn,
    stateMachineArn: machine.stateMachineArn,
    name: `${shape}-20260301`,
    status: machine.status,
    startDate: normalized[0]!.timestamp,
    stopDate: normalized.at(-1)!.timestamp,
    redriveCount: 0,
    input: { userName: 'alice' },
    definition: machine.definition,
    events: normalized,
  };
}

/** The timeline as rows: state, enclosing state, Map item, result, exit time (UTC), tries, errors. */
const timeline = (replayed: Replay) =>
  replayed.steps.map((step) => [
    step.state,
    step.parent,
    step.iteration,
    step.result,
    step.exitedAt?.slice(11, 23) ?? null,
    step.tries,
    step.errors,
  ]);

const CAUSE_RUNTIME =
  "States.Runtime: An error occurred while executing the state 'Read Detection' (entered at the event id #2). The JSONPath '$.detection.oldKeyId' specified for the field 'oldKeyId.$' could not be found in the input '{\"userName\": \"alice\"}'";
const CAUSE_JSONATA =
  "An error occurred while evaluating the expression '$states.input.key.id': the field 'key' does not exist";

describe('replaying every history Step Functions writes', () => {
  it('places a Map’s states under it by item, the failing item’s Fail state with its own error, the Catch after', () => {
    const replayed = replay(recordOf('map'));

    assert.deepEqual(timeline(replayed), [
      ['Check Users', null, null, 'failed', '10:00:00.008', 0, ['keyrot.Refused: bad-bot is not managed']],
      ['Managed?', 'Check Users', 0, 'succeeded', '10:00:00.003', 0, []],
      ['Check User', 'Check Users', 0, 'succeeded', '10:00:00.006', 0, []],
      ['Managed?', 'Check Users', 1, 'succeeded', '10:00:00.007', 0, []],
      ['Refuse User', 'Check Users', 1, 'failed', '10:00:00.007', 0, ['keyrot.Refused: bad-bot is not managed']],
      ['Report', null, null, 'succeeded', '10:00:00.009', 0, []],
    ]);
    assert.equal(
      replayed.steps[0]?.did,
      '3 items; 1 succeeded, 1 failed; failed: keyrot.Refused: bad-bot is not managed',
    );
    assert.equal(replayed.steps[3]?.did, 'chose Refuse User');
    assert.equal(replayed.steps[1]?.depth, 1);
    assert.equal(replayed.complete, true, replayed.gaps.join('; '));
  });

  it('names the Map Run of a Distributed Map (the scan’s shape) and its item count', () => {
    const replayed = replay(recordOf('distributed-map'));

    assert.deepEqual(timeline(replayed), [
      ['Start Rotations', null, null, 'succeeded', '10:00:00.007', 0, []],
      ['Scanned', null, null, 'succeeded', '10:00:00.007', 0, []],
    ]);
    assert.match(
      replayed.steps[0]?.did ?? '',
      /^2 items; Map Run arn:aws:states:eu-west-1:123456789012:mapRun:keyrot-distributed-map\//,
    );
    assert.equal(replayed.complete, true);
  });

  it('shows a Parallel whose failed branch aborted its sibling, each branch’s state in its own row', () => {
    const replayed = replay(recordOf('parallel'));

    assert.deepEqual(timeline(replayed), [
      ['Notify Both', null, null, 'failed', '10:00:00.004', 0, ['PagerDown: the pager did not answer']],
      ['Wait For Mail', 'Notify Both', null, 'aborted', '10:00:00.004', 0, []],
      ['Page On Call', 'Notify Both', null, 'failed', '10:00:00.004', 0, ['PagerDown: the pager did not answer']],
      ['Notify Failed', null, null, 'succeeded', '10:00:00.005', 0, []],
      ['Notified', null, null, 'succeeded', '10:00:00.005', 0, []],
    ]);
    assert.equal(replayed.steps[0]?.did, 'a branch failed');
    assert.equal(replayed.steps[1]?.did, 'aborted after 2 ms');
    assert.equal(replayed.complete, true);
  });

  it('keeps a timed-out callback’s States.Timeout in its own row, the Fail state after with its own error', () => {
    const replayed = replay(recordOf('callback-timeout'));

    assert.deepEqual(timeline(replayed), [
      ['Approve Deletion', null, null, 'failed', '10:00:01.008', 1, ['States.Timeout']],
      [
        'Approval Timed Out',
        null,
        null,
        'failed',
        '10:00:01.009',
        0,
        ['ROLLED_BACK: nobody approved the deletion in time'],
      ],
    ]);
    assert.equal(replayed.steps[0]?.did, 'failed: States.Timeout');
    assert.equal(replayed.outcome, 'ROLLED_BACK');
    assert.equal(replayed.reason, 'nobody approved the deletion in time');
    assert.equal(replayed.complete, true);
  });

  it('folds an activity’s failed try into its step and shows the activity that timed out', () => {
    const replayed = replay(recordOf('activity'));

    assert.deepEqual(timeline(replayed), [
      ['Ask Operator', null, null, 'succeeded', '10:00:09.510', 2, ['Operator.Busy: on another call']],
      ['Ask Again', null, null, 'failed', '10:01:09.610', 1, ['States.Timeout']],
    ]);
    assert.equal(replayed.steps[0]?.did, 'approved true (2 tries)');
    assert.equal(replayed.outcome, 'FAILED');
    assert.equal(replayed.reason, 'States.Timeout');
  });

  it('reads Lambda tasks that time out, retry and fail', () => {
    const replayed = replay(recordOf('lambda'));

    assert.deepEqual(timeline(replayed), [
      [
        'Verify New Key',
        null,
        null,
        'succeeded',
        '10:00:04.910',
        2,
        ['States.Timeout: Task timed out after 3.00 seconds'],
      ],
      [
        'Delete Old Key',
        null,
        null,
        'failed',
        '10:00:05.410',
        1,
        ['NoSuchEntity: The access key AKIAOLD0000000000001 does not exist'],
      ],
    ]);
    assert.equal(replayed.reason, 'NoSuchEntity: The access key AKIAOLD0000000000001 does not exist');
  });

  it('gives a Fail state with an error and a cause both, and one with neither a plain sentence', () => {
    const named = replay(recordOf('fail'));
    const bare = replay(recordOf('fail-bare'));

    assert.deepEqual(timeline(named), [
      ['Key Due?', null, null, 'succeeded', '10:00:00.001', 0, []],
      ['Not Allowed', null, null, 'failed', '10:00:00.001', 0, ['keyrot.Blocked: alice is exempt']],
    ]);
    assert.equal(named.reason, 'keyrot.Blocked: alice is exempt');
    assert.deepEqual(timeline(bare), [['Stop Here', null, null, 'failed', '10:00:00.000', 0, []]]);
    assert.equal(bare.steps[0]?.did, 'failed without an error or a cause');
    assert.equal(bare.reason, 'failed without an error or a cause');
  });

  it('puts a States.Runtime failure and a JSONata EvaluationFailed in the row of the state that raised them', () => {
    const runtime = replay(recordOf('runtime'));
    const evaluation = replay(recordOf('evaluation-failed'));

    assert.deepEqual(timeline(runtime), [['Read Detection', null, null, 'failed', '10:00:00.004', 0, [CAUSE_RUNTIME]]]);
    assert.equal(runtime.reason, CAUSE_RUNTIME);
    assert.deepEqual(timeline(evaluation), [
      [
        'Name The Key',
        null,
        null,
        'failed',
        '10:00:00.030',
        0,
        [`States.QueryEvaluationError at Output.keyId: ${CAUSE_JSONATA}`],
      ],
    ]);
    assert.equal(evaluation.reason, `States.QueryEvaluationError: ${CAUSE_JSONATA}`);
    assert.equal(evaluation.complete, true);
  });

  it('renders every fixture in every format, errors in the failed step’s row', () => {
    for (const shape of Object.keys(machines)) {
      const record = recordOf(shape);
      const replayed = replay(record);
      for (const format of FORMATS) {
        const rendered = format === 'html' ? renderHtml(replayed, record.definition) : renderReplay(replayed, format);
        assert.ok(rendered.length > 0, `${shape} ${format}`);
        for (const step of replayed.steps)
          assert.ok(rendered.includes(step.state), `${shape} ${format} lacks ${step.state}`);
      }
      const text = renderReplay(replayed, 'text').split('\n');
      for (const step of replayed.steps.filter((failed) => failed.errors.length > 0)) {
        const row = text.find(
          (line) => line.includes(` ${step.state}`) && line.includes(step.errors.at(-1)!.slice(0, 40)),
        );
        assert.ok(row, `${shape}: the row of ${step.state} lacks its error`);
      }
    }
  });

  it('draws the transitions out of a failed step in red in the HTML graph', () => {
    for (const [shape, edge] of [
      ['map', 'Check Users'],
      ['parallel', 'Notify Both'],
      ['callback-timeout', 'Approve Deletion'],
    ] as const) {
      const record = recordOf(shape);
      const html = renderHtml(replay(record), record.definition);
      const failedEdges = html.match(/<path class="edge [^"]*failed[^"]*"/g) ?? [];
      assert.equal(failedEdges.length, 1, `${shape}: ${failedEdges.join(', ')}`);
      assert.match(html, /marker-end="url\(#arrow-failed\)"/);
      assert.match(html, new RegExp(`<g class="node [^"]*failed[^"]*"><title>${edge.replace('?', '\\?')} `));
    }
    const succeeded = recordOf('distributed-map');
    assert.doesNotMatch(renderHtml(replay(succeeded), succeeded.definition), /class="edge [^"]*failed/);
  });
});
