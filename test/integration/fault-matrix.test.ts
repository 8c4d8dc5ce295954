import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { summarize } from '../../handlers/domain/outcome';
import type { LocalExecution } from '../../local/engine';
import { assertNoSecretIn, recordSecrets } from '../support/faults';
import { CallPoints, distinct, type CallPoint, type Fault } from '../support/fault-matrix';
import { invariantViolations } from '../support/invariants';
import { LocalAws } from '../support/local-aws';
import { runRotation } from '../support/rotation-runner';

/**
 * The fault-injection matrix: every AWS call every handler makes (found by running the
 * workflow, so a new call adds rows), a Lambda dying before it and after it succeeded, once
 * (the workflow's retry goes through) and always (retries run out: rollback or failure), and
 * after each run the invariants of DESIGN.md checked from outside.
 */
let aws: LocalAws;
let points: CallPoints;
const secrets: string[] = [];
const emitted: string[] = [];
const config = { validationMode: 'none' } as const;
let users = 0;

interface Row {
  fault: Fault;
  scenario: 'APPROVED' | 'REJECTED';
  outcome: string;
  fired: number;
  violations: string[];
}

async function run(
  scenario: Row['scenario'],
  fault?: Fault,
): Promise<{ execution: LocalExecution; violations: string[] }> {
  const user = `matrix-${(users += 1)}`;
  const original = await aws.seedUser(user);
  secrets.push(original.secretAccessKey);
  points.arm(fault);
  const execution = await runRotation(
    { userName: user, force: true, config },
    { decision: scenario, around: points.around },
  );
  emitted.push(JSON.stringify(execution));
  return { execution, violations: await invariantViolations(aws, user, original, execution) };
}

describe('the fault-injection matrix', () => {
  before(async () => {
    aws = await LocalAws.start();
    const { clients } = await import('../../handlers/shared/clients');
    points = new CallPoints(clients);
    recordSecrets(clients.iam, secrets);
  });
  after(async () => aws?.stop());

  it('keeps every invariant with a Lambda dying before and after every AWS call of every handler', async () => {
    // Discover the call points: a rotation approved, and one rejected (which runs the rollback).
    const calls = new Map<Row['scenario'], CallPoint[]>();
    for (const scenario of ['APPROVED', 'REJECTED'] as const) {
      const clean = await run(scenario);
      assert.deepEqual(clean.violations, [], `${scenario} without faults`);
      calls.set(scenario, distinct(points.seen));
    }
    const approved = calls.get('APPROVED') ?? [];
    const key = (point: CallPoint) => `${point.handler} ${point.command} ${point.occurrence}`;
    const rollbackOnly = (calls.get('REJECTED') ?? []).filter((point) => !approved.some((p) => key(p) === key(point)));
    const plan: [Row['scenario'], CallPoint][] = [
      ...approved.map((point) => ['APPROVED', point] as [Row['scenario'], CallPoint]),
      ...rollbackOnly.map((point) => ['REJECTED', point] as [Row['scenario'], CallPoint]),
    ];
    assert.ok(plan.length >= 25, `${plan.length} call points`);

    const rows: Row[] = [];
    for (const [scenario, point] of plan) {
      for (const when of ['before', 'after'] as const) {
        for (const mode of ['once', 'always'] as const) {
          const fault = { ...point, when, mode };
          const { execution, violations: broken } = await run(scenario, fault);
          rows.push({
            fault,
            scenario,
            outcome: summarize(execution.events).outcome,
            fired: points.fired,
            violations: broken,
          });
        }
      }
    }

    const width = Math.max(...rows.map((row) => key(row.fault).length));
    process.stdout.write(
      `# fault point${' '.repeat(width - 11)}  when    mode    scenario  outcome          fired  invariants\n`,
    );
    for (const row of rows) {
      process.stdout.write(
        `# ${key(row.fault).padEnd(width)}  ${row.fault.when.padEnd(6)}  ${row.fault.mode.padEnd(6)}  ${row.scenario.padEnd(8)}  ${row.outcome.padEnd(15)}  ${String(row.fired).padStart(5)}  ${row.violations.length === 0 ? 'held' : row.violations.join('; ')}\n`,
      );
    }
    const counts = rows.reduce<Record<string, number>>(
      (acc, row) => ({ ...acc, [row.outcome]: (acc[row.outcome] ?? 0) + 1 }),
      {},
    );
    process.stdout.write(`# ${rows.length} runs over ${plan.length} call points: ${JSON.stringify(counts)}\n`);

    assert.deepEqual(
      rows
        .filter((row) => row.violations.length > 0)
        .map((row) => `${key(row.fault)} ${row.fault.when} ${row.fault.mode}: ${row.violations.join('; ')}`),
      [],
    );
    // Some points cannot be struck in a warm process, by design: the link key is read once per
    // container, Detect probes each setting's resource once per container for ten minutes
    // (topic, approvals table, link key), and the old key's GetCallerIdentity always fails
    // (that is the proof of refusal).
    const unreachable = new Set([
      'request-approval GetSecretValue 1',
      'detect-keys GetTopicAttributes 1',
      'detect-keys DescribeTable 1',
      'detect-keys DescribeSecret 2',
      'confirm-old-key-refused GetCallerIdentity 1',
    ]);
    assert.deepEqual(
      rows.filter((row) => row.fired === 0 && !unreachable.has(key(row.fault))).map((row) => key(row.fault)),
      [],
      'every other fault struck',
    );
    for (const row of rows.filter((r) => r.fault.mode === 'once')) {
      assert.equal(
        row.outcome,
        row.scenario === 'APPROVED' ? 'ROTATED' : 'ROLLED_BACK',
        `${key(row.fault)} ${row.fault.when} once`,
      );
    }
  });

  it('lets no secret access key into any history, output or log of the matrix', () => {
    assertNoSecretIn(emitted.join('\n'), secrets, 101);
  });
});
