/**
 * Benchmark of the audit replay: normalizing, replaying and rendering histories of 100, 1,000
 * and 10,000 events (a validation loop that polls for days makes the long ones), with events
 * as large as a real rotation's (~1.3 KiB of state each). Run with `npm run bench`.
 */
import { renderHtml } from '../audit/html';
import { renderReplay } from '../audit/render';
import { replay } from '../audit/replay';
import { normalizeEvent, type ExecutionRecord } from '../handlers/domain/execution-record';
import { synthesizeDefinition } from '../local/definition';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 10);
const STATE = JSON.stringify({
  executionId: 'arn:aws:states:eu-west-1:111122223333:execution:Keyrot-rotation:payroll-bot-20260301',
  startedAt: '2026-03-01T10:00:00.000Z',
  userName: 'payroll-bot',
  userArn: 'arn:aws:iam::111122223333:user/service/payroll-bot',
  requestedBy: 'ops',
  asOf: '2026-03-01T10:00:00.000Z',
  force: false,
  secretId: 'keyrot/payroll-bot',
  config: { maxAgeDays: 90, approveRotation: false, approveDeletion: true, validationMode: 'last-used' },
  detection: {
    decision: 'ROTATE',
    reason: 'AKIAOLD0000000000001 is 95 days old (maximum 90)',
    oldKeyId: 'AKIAOLD0000000000001',
    keys: [
      {
        keyId: 'AKIAOLD0000000000001',
        status: 'Active',
        createdAt: '2025-11-26T10:00:00Z',
        ageDays: 95,
        lastUsedAt: '2026-03-01T09:00:00Z',
      },
    ],
  },
  created: {
    newKeyId: 'AKIANEW0000000000002',
    secretVersionId: '50f632a6-9911-feb0-4392-f59d072ad6ad',
    createdAt: '2026-03-01T10:00:01Z',
  },
  distributed: {
    currentVersionId: '50f632a6-9911-feb0-4392-f59d072ad6ad',
    previousVersionId: '0f65b52a-5af8-4c4c-9e51-562cec501778',
  },
});

/** A history of about `size` events, as the raw API returns them (epoch-second timestamps). */
function history(size: number, definition: string): ExecutionRecord {
  const raw: Record<string, unknown>[] = [];
  const add = (type: string, details: Record<string, unknown> = {}) =>
    raw.push({
      id: raw.length + 1,
      previousEventId: raw.length,
      timestamp: 1_772_359_200 + raw.length,
      type,
      ...details,
    });
  add('ExecutionStarted', {
    executionStartedEventDetails: { input: STATE, roleArn: 'arn:aws:iam::111122223333:role/r' },
  });
  while (raw.length < size - 1) {
    add('TaskStateEntered', { stateEnteredEventDetails: { name: 'Check New Key Used', input: STATE } });
    add('LambdaFunctionScheduled', {
      lambdaFunctionScheduledEventDetails: {
        resource: 'arn:aws:lambda:eu-west-1:111122223333:function:keyrot-check-key-used',
        input: STATE,
      },
    });
    add('LambdaFunctionStarted');
    add('LambdaFunctionSucceeded', {
      lambdaFunctionSucceededEventDetails: {
        output: '{"used":false,"lastUsedAt":null,"deadline":"2026-03-08T10:00:00Z"}',
      },
    });
    add('TaskStateExited', { stateExitedEventDetails: { name: 'Check New Key Used', output: STATE } });
    add('ChoiceStateEntered', { stateEnteredEventDetails: { name: 'New Key In Use?', input: STATE } });
    add('ChoiceStateExited', { stateExitedEventDetails: { name: 'New Key In Use?', output: STATE } });
    add('WaitStateEntered', { stateEnteredEventDetails: { name: 'Wait Before Checking Again', input: STATE } });
    add('WaitStateExited', { stateExitedEventDetails: { name: 'Wait Before Checking Again', output: STATE } });
  }
  add('ExecutionSucceeded', { executionSucceededEventDetails: { output: '{"outcome":"ROTATED"}' } });
  return {
    executionArn: 'arn:aws:states:eu-west-1:111122223333:execution:Keyrot-rotation:payroll-bot-20260301',
    stateMachineArn: 'arn:aws:states:eu-west-1:111122223333:stateMachine:Keyrot-rotation',
    name: 'payroll-bot-20260301',
    status: 'SUCCEEDED',
    startDate: '2026-03-01T10:00:00.000Z',
    redriveCount: 0,
    input: JSON.parse(STATE),
    definition,
    events: raw as never,
  };
}

function median(run: () => void): number {
  const times: number[] = [];
  for (let i = 0; i < ROUNDS; i += 1) {
    const start = performance.now();
    run();
    times.push(performance.now() - start);
  }
  return times.sort((a, b) => a - b)[Math.floor(times.length / 2)] ?? 0;
}

const definition = JSON.stringify((await synthesizeDefinition()).definition);
console.log(`keyrot audit benchmark  ${new Date().toISOString()}  node ${process.version}  median of ${ROUNDS}`);
console.log('  events   history MiB  normalize ms  replay ms   text ms    csv ms     md ms   html ms   html KiB');
for (const size of [100, 1000, 10_000]) {
  const raw = history(size, definition);
  const record = { ...raw, events: raw.events.map((event) => normalizeEvent(event as never)) };
  const replayed = replay(record);
  const cells = [
    String(record.events.length).padStart(8),
    (Buffer.byteLength(JSON.stringify(raw.events)) / 1048576).toFixed(2).padStart(12),
    median(() => raw.events.map((event) => normalizeEvent(event as never)))
      .toFixed(1)
      .padStart(13),
    median(() => replay(record))
      .toFixed(1)
      .padStart(10),
    ...(['text', 'csv', 'md'] as const).map((format) =>
      median(() => renderReplay(replayed, format))
        .toFixed(1)
        .padStart(9),
    ),
    median(() => renderHtml(replayed, definition))
      .toFixed(1)
      .padStart(9),
    (Buffer.byteLength(renderHtml(replayed, definition)) / 1024).toFixed(0).padStart(10),
  ];
  console.log(cells.join(' '));
}
