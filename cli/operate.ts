import { replay } from '../audit/replay';
import { duration, headline, table, utc } from '../audit/render';
import { isGateState } from '../handlers/shared/schemas';
import { CommandError, type ExecutionSource, type ExecutionSummary, type ListFilter } from './executions';
import { EXIT_CODES, exitCodeFor } from './outcome';

const print = (line = '') => process.stdout.write(`${line}\n`);

/** `keyrot status`: where an execution stands, or how it ended. */
export async function status(source: ExecutionSource, id: string, options: { json: boolean }): Promise<number> {
  const record = await source.read(id);
  const replayed = replay(record);
  const last = replayed.steps.at(-1);
  const running = replayed.status === 'RUNNING';
  const waitingForApproval = running && last !== undefined && isGateState(last.state);
  if (options.json) {
    print(
      JSON.stringify({
        executionArn: replayed.executionArn,
        name: replayed.name,
        user: replayed.user,
        status: replayed.status,
        outcome: replayed.outcome,
        reason: replayed.reason,
        currentStep: last ? { state: last.state, since: last.enteredAt, result: last.result } : null,
        waitingForApproval,
        stepsSoFar: replayed.steps.length,
        complete: replayed.complete,
        gaps: replayed.gaps,
      }),
    );
  } else {
    for (const [label, value] of headline(replayed)) print(`${label.padEnd(10)} ${value}`);
    if (last) {
      const since = Date.now() - Date.parse(last.enteredAt);
      print(
        running
          ? `Now        ${last.state} for ${duration(since)}${waitingForApproval ? ': waiting for an approver to sign' : ''}`
          : `Last step  ${last.state} (${last.result}) at ${utc(last.enteredAt)}`,
      );
    }
    print(
      `Steps      ${replayed.steps.length} so far; full timeline: keyrot audit ${replayed.name}${source.kind === 'local' ? ' --from local' : ''}`,
    );
  }
  return running ? 0 : exitCodeFor(replayed);
}

/** `keyrot list`: executions, newest first, filtered. */
export async function list(source: ExecutionSource, filter: ListFilter, options: { json: boolean }): Promise<number> {
  return printExecutions(await source.list(filter), options);
}

/** Executions as a table (or one JSON array). */
export function printExecutions(found: ExecutionSummary[], options: { json: boolean }): number {
  if (options.json) {
    print(JSON.stringify(found));
    return 0;
  }
  if (found.length === 0) {
    process.stderr.write('no executions match\n');
    return 0;
  }
  const rows = [
    ['STARTED (UTC)', 'NAME', 'USER', 'STATUS', 'OUTCOME', 'REASON'],
    ...found.map((e: ExecutionSummary) => [
      e.startDate.slice(0, 19).replace('T', ' '),
      e.name,
      e.user ?? '-',
      e.status,
      e.outcome,
      (e.reason ?? '').slice(0, 80),
    ]),
  ];
  print(table(rows));
  return 0;
}

/**
 * `keyrot abort`: stop a running execution, recording who and why. An abort skips the
 * rollback, so once a new key exists it is refused without --force, pointing at `keyrot
 * reject` (which rolls back) instead.
 */
export async function abort(
  source: ExecutionSource,
  id: string,
  options: { reason: string; by: string; force: boolean; json: boolean },
): Promise<number> {
  const reason = options.reason.trim();
  if (!reason) throw new CommandError('--reason must say why the execution is aborted', EXIT_CODES.INVALID);
  const replayed = replay(await source.read(id));
  const after = new Set(replayed.steps.map((step) => step.state));
  const keyCreated = replayed.newKeyId !== null && !after.has('Finish') && !after.has('Roll Back');
  if (keyCreated && !options.force) {
    const gate = replayed.steps.at(-1)?.state;
    throw new CommandError(
      `${replayed.name} has created ${replayed.newKeyId}; aborting now skips the rollback and leaves two keys. ` +
        (gate && isGateState(gate)
          ? `It waits at ${gate}: reject it instead (keyrot reject <approval> --reason ...), which rolls back. `
          : '') +
        'Pass --force to abort anyway.',
      EXIT_CODES.INVALID,
    );
  }
  const stopped = await source.abort(id, { error: 'keyrot.Aborted', cause: `aborted by ${options.by}: ${reason}` });
  if (options.json) print(JSON.stringify(stopped));
  else print(`${stopped.status}  ${stopped.name}: ${stopped.reason ?? ''}`);
  return 0;
}
