import { GetExecutionHistoryCommand, type HistoryEvent as SdkHistoryEvent } from '@aws-sdk/client-sfn';
import { approvalLink, loadLinkKey } from '../handlers/domain/approval-links';
import { decideAllPending, pendingApprovals } from '../handlers/domain/approvals';
import { normalizeEvent, type HistoryEvent } from '../handlers/domain/execution-record';
import { summarize } from '../handlers/domain/outcome';
import { clients, settings } from '../handlers/shared/clients';
import { describeIssues, ExecutionInput, isGateState } from '../handlers/shared/schemas';
import { startApprovalServer } from '../local/approval-server';
import { synthesizeDefinition } from '../local/definition';
import { LocalTaskTokens, localExecutionArn, recordOf, runLocal, type LocalRunOptions } from '../local/engine';
import {
  claimExecution,
  findExecution,
  saveExecution,
  takeAbortRequest,
  updateRunning,
  writeServerInfo,
} from '../local/store';
import { withRequester } from '../handlers/domain/requester';
import { executionArnOf, executionName, startNamed } from '../handlers/domain/start-rotation';
import { apiSource, localSource, type ExecutionSource } from './executions';
import { archiveLocal } from './local-runs';
import { exitCodeFor, EXIT_CODES } from './outcome';
import type { Output } from './output';
import { checkBeforeStart } from './plan';

export interface RotateOptions {
  local: boolean;
  force: boolean;
  asOf?: string;
  json: boolean;
  config: Record<string, unknown>;
  autoApprove?: string;
  stateMachineArn?: string;
  /** Local mode: make Wait states and retry pauses instant. */
  skipWaits?: boolean;
  /** The user's key is in no secret yet: the new key goes into a new one. */
  onboard?: boolean;
  /** Print the plan (Detect's checks and every step) and change nothing. */
  dryRun?: boolean;
  /** The managed scope (else KEYROT_USER_PATH/KEYROT_USER_TAG, else cdk.json). */
  userPath?: string;
  userTag?: string;
}

/** The JSON `keyrot rotate --json` prints. */
export interface RotateResult {
  executionId: string;
  user: string;
  outcome: string;
  reason: string | null;
  oldKeyId: string | null;
  newKeyId: string | null;
  status: string;
  durationMs: number;
  stateTransitions: number;
  history?: string;
  /** Where the evidence archive holds the record (local runs; deployed ones are archived by the stack). */
  archived?: string;
}

/** At most this many rotations of one user per UTC day (a rolled-back one can be retried). */
const ATTEMPTS_PER_DAY = 20;

/** `keyrot rotate`: run one rotation locally or on the deployed state machine. */
export async function rotate(user: string, options: RotateOptions, out: Output): Promise<number> {
  const parsed = ExecutionInput.safeParse({
    userName: user,
    force: options.force,
    ...(options.asOf ? { asOf: options.asOf } : {}),
    ...(options.onboard ? { onboard: true } : {}),
    config: options.config,
  });
  if (!parsed.success) {
    out.error(`invalid request: ${describeIssues(parsed.error)}`);
    return EXIT_CODES.INVALID;
  }
  const input = parsed.data;
  // Detect's preconditions and settings checks, here, before anything starts (or the plan).
  const stop = await checkBeforeStart(input, options, out);
  if (stop !== undefined) return stop;
  const source = options.local ? localSource() : apiSource(options.stateMachineArn);
  const running = await source.running(input.userName);
  if (running) {
    out.error(
      `a rotation of ${input.userName} is already running: ${running.name} (started ${running.startDate}${running.reason ? `; ${running.reason}` : ''}). ` +
        `Follow it with: keyrot status ${running.name}${options.local ? ' --local' : ''}`,
    );
    return EXIT_CODES.CONFLICT;
  }
  return options.local ? rotateLocally(input, options, out) : rotateDeployed(input, options, source, out);
}

/** Print the approval links an execution waits on (when this machine can read the approvals table). */
async function showApprovalLinks(executionArn: string, state: string, out: Output): Promise<void> {
  const config = settings();
  if (!config.approvalsTable || !config.linkKeySecret) {
    out.notice(`         ${state}: waiting for an approver (the link went to the approvers' topic)`);
    return;
  }
  const key = await loadLinkKey(clients.secrets, config);
  for (const approval of await pendingApprovals(clients, config, executionArn)) {
    out.notice(`         ${state}: waiting for a signature until ${approval.expiresAt}`);
    out.notice(`         open ${approvalLink(config.approvalBaseUrl, approval.approvalId, key)}`);
    out.notice(`         or:  keyrot approve ${approval.approvalId} --as <user> --reason <text>`);
  }
}

/**
 * Take the first free execution name of the day: `{ name }`, or `{ running }` naming the
 * rotation of this user another process runs, or undefined when the day's attempts are used up.
 */
function claimName(
  input: ExecutionInput,
  stateMachineName: string,
  started: Date,
): { name: string } | { running: string } | undefined {
  for (let attempt = 1; attempt <= ATTEMPTS_PER_DAY; attempt += 1) {
    const name = executionName(input.userName, started, attempt);
    const claimed = claimExecution({
      executionArn: localExecutionArn(stateMachineName, name),
      stateMachineArn: '',
      name,
      status: 'RUNNING',
      startDate: started.toISOString(),
      redriveCount: 0,
      input,
      events: [],
    });
    if (claimed) return { name };
    // Another process may have claimed it a moment ago: that one is the running rotation.
    if (findExecution(name)?.status === 'RUNNING') return { running: name };
  }
  return undefined;
}

/**
 * Run one rotation with the local engine; with `resume`, continue a killed run's record (the
 * name is already claimed: `keyrot resume` took it over) from the state it gives.
 */
export async function rotateLocally(
  request: ExecutionInput,
  options: RotateOptions,
  out: Output,
  resume?: LocalRunOptions['resume'],
): Promise<number> {
  let input = request;
  const where = process.env.AWS_ENDPOINT_URL ? `AWS at ${process.env.AWS_ENDPOINT_URL}` : 'the real AWS account';
  const definition = await synthesizeDefinition();
  const started = new Date();
  const claim = resume ? { name: resume.record.name } : claimName(input, definition.stateMachineName, started);
  if (!claim || 'running' in claim) {
    out.error(
      claim
        ? `a rotation of ${input.userName} is already running: ${claim.running}`
        : `${input.userName} was already rotated ${ATTEMPTS_PER_DAY} times today; try again tomorrow`,
    );
    return EXIT_CODES.CONFLICT;
  }
  const { name } = claim;
  // Who asks is proven, not typed: a proof signed with this CLI's credentials for this execution.
  input = await withRequester(input, localExecutionArn(definition.stateMachineName, name));
  out.progress(`keyrot: rotating ${input.userName} with the local engine against ${where}`);
  out.progress(`         execution ${name} (keyrot status ${name} --local; keyrot abort ${name} --local)`);
  const tokens = new LocalTaskTokens();
  // Without --auto-approve, gates are signed on the local approval pages (or `keyrot approve`).
  // Callback validation needs the server too: the consumer's proof arrives there (keyrot confirm).
  const server =
    options.autoApprove && input.config.validationMode !== 'callback' ? undefined : await startApprovalServer(tokens);
  if (server) writeServerInfo(server.url);
  const abort = new AbortController();
  // `keyrot abort --local` from another terminal leaves a request next to the record.
  const abortPoll = setInterval(() => {
    const request = takeAbortRequest(name);
    if (request) abort.abort(request);
  }, 250);
  let transitions = 0;
  const execution = await runLocal(definition, {
    input,
    name,
    tokens,
    resume,
    abort: abort.signal,
    waits: options.skipWaits ? 'skip' : 'real',
    onSnapshot: updateRunning,
    onEvent: (event) => {
      if (event.type !== 'StateEntered') return;
      transitions += 1;
      out.step(Date.now() - started.getTime(), event.state.name);
    },
    onWaiting: (state, executionArn) => {
      void (async () => {
        if (state === 'Wait For Consumer') {
          out.notice(`         ${state}: prove the consumer runs on the new key: keyrot confirm ${name} --local`);
          return;
        }
        if (!options.autoApprove) return showApprovalLinks(executionArn, state, out);
        const signatures = await decideAllPending({ ...clients, callbacks: tokens }, settings(), executionArn, {
          // No password and no directory identity: the sub says so, and the manifest is still KMS-signed.
          signer: {
            username: options.autoApprove,
            sub: `auto-approve:${options.autoApprove}`,
            name: `${options.autoApprove} (auto-approved from the terminal)`,
          },
          meaning: 'APPROVED',
          reason: `auto-approved from the terminal by ${options.autoApprove}`,
        });
        for (const signature of signatures) {
          out.progress(
            `         ${state}: AUTO-APPROVED as "${signature.signerId}" (--auto-approve; no approver reviewed it)`,
          );
        }
      })().catch((error: Error) => out.error(`approval failed: ${error.message}`));
    },
  }).finally(() => {
    clearInterval(abortPoll);
    return server?.stop();
  });
  const files = saveExecution(execution);
  const summary = summarize(execution.events);
  let archived: string | undefined;
  // `keyrot abort` of a run past Create Access Key rolls back, then archives the record itself.
  const abortRollsBack = (abort.signal.reason as { rollback?: boolean } | undefined)?.rollback === true;
  if (abortRollsBack) out.progress(`         aborted: keyrot abort rolls back ${name} and archives it`);
  else {
    try {
      // Deployed, the archiver Lambda does this when the execution ends: its calls are its own.
      const written = await archiveLocal(recordOf(execution));
      archived = written?.address;
      if (written) out.progress(`         archived under Object Lock: ${written.address} (chain entry ${written.seq})`);
    } catch (error) {
      out.error(`could not archive ${name}: ${(error as Error).message}; the history is kept in ${files.history}`);
    }
  }
  out.result({
    executionId: execution.executionArn,
    user: input.userName,
    outcome: summary.outcome,
    reason: summary.reason,
    oldKeyId: summary.oldKeyId,
    newKeyId: summary.newKeyId,
    status: execution.status,
    durationMs: Date.parse(execution.stopDate) - Date.parse(execution.startDate),
    stateTransitions: transitions,
    history: files.history,
    ...(archived ? { archived } : {}),
  });
  return exitCodeFor(summary, execution.error);
}

/** DescribeExecution's status for each terminal history event. */
const STATUS_OF: Record<string, string> = {
  ExecutionSucceeded: 'SUCCEEDED',
  ExecutionFailed: 'FAILED',
  ExecutionAborted: 'ABORTED',
  ExecutionTimedOut: 'TIMED_OUT',
};
const TERMINAL = new Set(Object.keys(STATUS_OF));

/** The events after `lastId`, newest pages first (reverse order), so following costs one call a poll. */
async function newEvents(executionArn: string, lastId: number): Promise<HistoryEvent[]> {
  const fresh: HistoryEvent[] = [];
  let nextToken: string | undefined;
  do {
    const page = await clients.sfn.send(
      new GetExecutionHistoryCommand({ executionArn, nextToken, maxResults: 100, reverseOrder: true }),
    );
    const events = (page.events ?? []) as SdkHistoryEvent[];
    for (const event of events) {
      if ((event.id ?? 0) <= lastId) return fresh.reverse();
      fresh.push(normalizeEvent(event as unknown as Record<string, unknown>));
    }
    nextToken = page.nextToken;
  } while (nextToken);
  return fresh.reverse();
}

async function rotateDeployed(
  input: ExecutionInput,
  options: RotateOptions,
  source: ExecutionSource,
  out: Output,
): Promise<number> {
  const stateMachineArn = options.stateMachineArn ?? process.env.KEYROT_STATE_MACHINE_ARN ?? '';
  let executionArn = '';
  const requested = new Date();
  for (let attempt = 1; attempt <= ATTEMPTS_PER_DAY; attempt += 1) {
    const name = executionName(input.userName, requested, attempt);
    const proven = await withRequester(input, executionArnOf(stateMachineArn, name));
    executionArn = (await startNamed(clients.sfn, stateMachineArn, name, proven)) ?? '';
    if (executionArn) break;
    // The name is taken: by a finished rotation today (try the next), or by a running one.
    const running = await source.running(input.userName);
    if (running) {
      out.error(`a rotation of ${input.userName} is already running: ${running.name}`);
      return EXIT_CODES.CONFLICT;
    }
  }
  if (!executionArn) {
    out.error(`${input.userName} was already rotated ${ATTEMPTS_PER_DAY} times today; try again tomorrow`);
    return EXIT_CODES.CONFLICT;
  }
  out.progress(`keyrot: started ${executionArn}`);

  const events: HistoryEvent[] = [];
  const begin = Date.now();
  let transitions = 0;
  let current = '';
  for (;;) {
    for (const event of await newEvents(executionArn, events.at(-1)?.id ?? 0)) {
      events.push(event);
      const state = (event.stateEnteredEventDetails as { name?: string } | undefined)?.name;
      if (state) {
        transitions += 1;
        current = state;
        out.step(Date.now() - begin, state);
      }
      // The approval exists once the gate's handler has returned (the task is submitted).
      if (event.type === 'TaskSubmitted' && isGateState(current)) await showApprovalLinks(executionArn, current, out);
    }
    if (TERMINAL.has(events.at(-1)?.type ?? '')) break;
    await new Promise((resolve) => setTimeout(resolve, 2000));
  }
  const summary = summarize(events);
  const first = events[0]?.timestamp ?? new Date(begin).toISOString();
  const last = events.at(-1)?.timestamp ?? new Date().toISOString();
  out.result({
    executionId: executionArn,
    user: input.userName,
    outcome: summary.outcome,
    reason: summary.reason,
    oldKeyId: summary.oldKeyId,
    newKeyId: summary.newKeyId,
    status: STATUS_OF[events.at(-1)?.type ?? ''] ?? 'UNKNOWN',
    durationMs: Date.parse(last) - Date.parse(first),
    stateTransitions: transitions,
  });
  const failed = events.at(-1)?.executionFailedEventDetails as { error?: string } | undefined;
  return exitCodeFor(summary, failed?.error);
}
