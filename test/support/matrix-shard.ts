import assert from 'node:assert/strict';
import { summarize } from '../../handlers/domain/outcome';
import type { LocalExecution } from '../../local/engine';
import { assertNoSecretIn, recordSecrets } from './faults';
import { CallPoints, distinct, type CallPoint, type Fault } from './fault-matrix';
import { invariantViolations } from './invariants';
import { LocalAws } from './local-aws';
import { runRotation } from './rotation-runner';

/** How many files the matrix is dealt over, so the test runner's workers share it. */
export const MATRIX_SHARDS = 4;

type Scenario = 'APPROVED' | 'REJECTED';

interface Row {
  fault: Fault;
  scenario: Scenario;
  outcome: string;
  fired: number;
  violations: string[];
}

const key = (point: CallPoint) => `${point.handler} ${point.command} ${point.occurrence}`;

/**
 * One shard of the fault-injection matrix: every AWS call every handler makes (found by running
 * the workflow, so a new call adds rows), a Lambda dying before it and after it succeeded, once
 * (the workflow's retry goes through) and always (retries run out: rollback or failure), and
 * after each run the invariants of DESIGN.md checked from outside. Every shard discovers the
 * same plan with its own moto and runs the faults of every `MATRIX_SHARDS`-th call point of it,
 * starting at `index`.
 */
export function faultMatrixShard(index: number) {
  let aws: LocalAws;
  let points: CallPoints;
  const secrets: string[] = [];
  const emitted: string[] = [];
  const config = { validationMode: 'none' } as const;
  let users = 0;
  let runs = 0;

  async function run(scenario: Scenario, fault?: Fault): Promise<{ execution: LocalExecution; violations: string[] }> {
    const user = `matrix-${(users += 1)}`;
    const original = await aws.seedUser(user);
    secrets.push(original.secretAccessKey);
    points.arm(fault);
    const execution = await runRotation(
      { userName: user, force: true, config },
      { decision: scenario, around: points.around },
    );
    runs += 1;
    emitted.push(JSON.stringify(execution));
    return { execution, violations: await invariantViolations(aws, user, original, execution) };
  }

  return {
    start: async () => {
      aws = await LocalAws.start();
      const { clients } = await import('../../handlers/shared/clients');
      points = new CallPoints(clients);
      recordSecrets(clients.iam, secrets);
    },
    stop: async () => aws?.stop(),

    keepsEveryInvariant: async () => {
      // Discover the call points: a rotation approved, and one rejected (which runs the rollback).
      const calls = new Map<Scenario, CallPoint[]>();
      for (const scenario of ['APPROVED', 'REJECTED'] as const) {
        const clean = await run(scenario);
        assert.deepEqual(clean.violations, [], `${scenario} without faults`);
        calls.set(scenario, distinct(points.seen));
      }
      const approved = calls.get('APPROVED') ?? [];
      const rollbackOnly = (calls.get('REJECTED') ?? []).filter(
        (point) => !approved.some((p) => key(p) === key(point)),
      );
      const plan: [Scenario, CallPoint][] = [
        ...approved.map((point) => ['APPROVED', point] as [Scenario, CallPoint]),
        ...rollbackOnly.map((point) => ['REJECTED', point] as [Scenario, CallPoint]),
      ];
      assert.ok(plan.length >= 25, `${plan.length} call points`);
      const faults = plan.flatMap(([scenario, point]) =>
        (['before', 'after'] as const).flatMap((when) =>
          (['once', 'always'] as const).map((mode) => ({ scenario, fault: { ...point, when, mode } })),
        ),
      );

      const rows: Row[] = [];
      // Dealt by call point, so each shard has its share of the slow `always` rows.
      const own = faults.filter((_, n) => Math.floor(n / 4) % MATRIX_SHARDS === index);
      for (const { scenario, fault } of own) {
        const { execution, violations: broken } = await run(scenario, fault);
        rows.push({
          fault,
          scenario,
          outcome: summarize(execution.events).outcome,
          fired: points.fired,
          violations: broken,
        });
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
      process.stdout.write(
        `# ${rows.length} of ${faults.length} runs (shard ${index + 1} of ${MATRIX_SHARDS}) over ${plan.length} call points: ${JSON.stringify(counts)}\n`,
      );

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
    },

    letsNoSecretOut: () => {
      // Every run seeded one key, and the two clean runs created one each.
      assertNoSecretIn(emitted.join('\n'), secrets, runs + 2);
    },
  };
}
