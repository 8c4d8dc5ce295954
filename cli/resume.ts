import { ExecutionInput } from '../handlers/shared/schemas';
import { findExecution, processAlive, processGone, saveRecord, takeOver } from '../local/store';
import { CommandError } from './executions';
import { archiveLocal, closeDeadRun, lastState, restartPoint } from './local-runs';
import { EXIT_CODES } from './outcome';
import type { Output } from './output';
import { rotateLocally } from './rotate';

export interface ResumeOptions {
  json: boolean;
  autoApprove?: string;
  skipWaits?: boolean;
}

/**
 * `keyrot resume <execution>`: continue a local rotation whose process died, like a Step
 * Functions redrive. The record is closed as FAILED (keyrot.ProcessGone, marked incomplete) and
 * archived; then the same definition runs again from the state that never finished, with the
 * input that state was given, and the history goes on after an ExecutionRedriven event.
 * Every handler is idempotent, so the state that was cut off may safely run again.
 */
export async function resume(id: string, options: ResumeOptions, out: Output): Promise<number> {
  const name = id.startsWith('arn:') ? (id.split(':').at(-1) ?? id) : id;
  const record = findExecution(name);
  if (!record)
    throw new CommandError(`no local execution named ${name} (see keyrot list --local)`, EXIT_CODES.NOT_FOUND);
  if (record.status !== 'RUNNING') {
    throw new CommandError(
      `${name} is not running (${record.status}): there is nothing to resume`,
      EXIT_CODES.CONFLICT,
    );
  }
  if (processAlive(record.pid)) {
    throw new CommandError(
      `${name} still runs in process ${record.pid}: follow it with keyrot status`,
      EXIT_CODES.CONFLICT,
    );
  }
  const input = ExecutionInput.safeParse(record.input);
  if (!input.success) throw new CommandError(`${name}'s record does not hold a rotation request`, EXIT_CODES.INVALID);
  const release = takeOver(name);
  if (!release) throw new CommandError(`${name} is being recovered by another keyrot command`, EXIT_CODES.CONFLICT);
  try {
    // Checked again under the lock: another recovery may have closed it a moment ago.
    const current = findExecution(name);
    if (!current || !processGone(current))
      throw new CommandError(`${name} was recovered meanwhile`, EXIT_CODES.CONFLICT);
    const point = restartPoint(current);
    const closed = closeDeadRun(current, {
      type: 'ExecutionFailed',
      error: 'keyrot.ProcessGone',
      cause: `redriven by keyrot resume from ${point.startAt}`,
      by: 'keyrot resume',
    });
    saveRecord(closed);
    const archived = await archiveLocal(closed);
    out.progress(
      `keyrot: ${name} stopped when process ${current.pid ?? '?'} died during ${lastState(current) ?? 'the start'}; ` +
        `resuming from ${point.startAt} (redrive ${closed.redriveCount + 1})`,
    );
    if (archived) out.progress(`         the run so far is archived, marked incomplete: ${archived.address}`);
    return await rotateLocally(
      input.data,
      {
        local: true,
        force: input.data.force,
        json: options.json,
        config: input.data.config as Record<string, unknown>,
        autoApprove: options.autoApprove,
        skipWaits: options.skipWaits,
      },
      out,
      { record: closed, startAt: point.startAt, input: point.input },
    );
  } finally {
    release();
  }
}
