import {
  DescribeExecutionCommand,
  ExecutionAlreadyExists,
  GetExecutionHistoryCommand,
  SFNClient,
  StartExecutionCommand,
  type HistoryEvent,
} from '@aws-sdk/client-sfn';
import { decideAllPending, pendingApprovals } from '../handlers/domain/approvals';
import { clients, settings } from '../handlers/shared/clients';
import { describeIssues, ExecutionInput } from '../handlers/shared/schemas';
import { synthesizeDefinition } from '../local/definition';
import { LocalTaskTokens, runLocal } from '../local/engine';
import { saveExecution, writeServerInfo } from '../local/store';
import { startApprovalServer } from '../local/approval-server';
import { approvalLink, loadLinkKey } from '../handlers/domain/approval-links';
import { summarize, type EventLike } from '../audit/outcome';
import { exitCodeFor, EXIT_CODES } from './outcome';
import type { Output } from './output';

export interface RotateOptions {
  local: boolean;
  force: boolean;
  asOf?: string;
  json: boolean;
  requestedBy: string;
  config: Record<string, unknown>;
  autoApprove?: string;
  stateMachineArn?: string;
  /** Local mode: make Wait states and retry pauses instant. */
  skipWaits?: boolean;
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
}

/** Execution names: one per user and UTC day, so a second start the same day is refused. */
export function executionName(user: string, when: Date): string {
  const day = when.toISOString().slice(0, 10).replace(/-/g, '');
  return `${user.replace(/[^A-Za-z0-9_-]/g, '_').slice(0, 60)}-${day}`;
}

/** `keyrot rotate`: run one rotation locally or on the deployed state machine. */
export async function rotate(user: string, options: RotateOptions, out: Output): Promise<number> {
  const parsed = ExecutionInput.safeParse({
    userName: user,
    requestedBy: options.requestedBy,
    force: options.force,
    ...(options.asOf ? { asOf: options.asOf } : {}),
    config: options.config,
  });
  if (!parsed.success) {
    out.error(`invalid request: ${describeIssues(parsed.error)}`);
    return EXIT_CODES.INVALID;
  }
  const input = parsed.data;
  return options.local ? rotateLocally(input, options, out) : rotateDeployed(input, options, out);
}

async function rotateLocally(input: ExecutionInput, options: RotateOptions, out: Output): Promise<number> {
  const where = process.env.AWS_ENDPOINT_URL ? `AWS at ${process.env.AWS_ENDPOINT_URL}` : 'the real AWS account';
  out.progress(`keyrot: rotating ${input.userName} with the local engine against ${where}`);
  const definition = synthesizeDefinition();
  const tokens = new LocalTaskTokens();
  // Without --auto-approve, gates are signed on the local approval pages (or `keyrot approve`).
  const server = options.autoApprove ? undefined : await startApprovalServer(tokens);
  if (server) writeServerInfo(server.url);
  const started = Date.now();
  let transitions = 0;
  const execution = await runLocal(definition, {
    input,
    tokens,
    waits: options.skipWaits ? 'skip' : 'real',
    onEvent: (event) => {
      if (event.type !== 'StateEntered') return;
      transitions += 1;
      out.step(Date.now() - started, event.state.name);
    },
    onWaiting: (state, executionArn) => {
      void (async () => {
        if (options.autoApprove) {
          const signatures = await decideAllPending({ ...clients, callbacks: tokens }, settings(), executionArn, {
            signer: { username: options.autoApprove, name: `${options.autoApprove} (auto-approved from the terminal)` },
            meaning: 'APPROVED',
            reason: `auto-approved from the terminal by ${options.autoApprove}`,
          });
          for (const signature of signatures) {
            out.progress(
              `         ${state}: AUTO-APPROVED as "${signature.signerId}" (--auto-approve; no approver reviewed it)`,
            );
          }
          return;
        }
        const key = await loadLinkKey(clients.secrets, settings());
        for (const approval of await pendingApprovals(clients, settings(), executionArn)) {
          out.notice(`         ${state}: waiting for a signature until ${approval.expiresAt}`);
          out.notice(`         open ${approvalLink(settings().approvalBaseUrl, approval.approvalId, key)}`);
          out.notice(`         or:  keyrot approve ${approval.approvalId} --as <user> --reason <text>`);
        }
      })().catch((error: Error) => out.error(`approval failed: ${error.message}`));
    },
  }).finally(() => server?.stop());
  const files = saveExecution(execution);
  const summary = summarize(execution.events as EventLike[]);
  const result: RotateResult = {
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
  };
  out.result(result);
  return exitCodeFor(summary, execution.error);
}

const TERMINAL = new Set(['ExecutionSucceeded', 'ExecutionFailed', 'ExecutionAborted', 'ExecutionTimedOut']);

async function rotateDeployed(input: ExecutionInput, options: RotateOptions, out: Output): Promise<number> {
  const stateMachineArn = options.stateMachineArn ?? process.env.KEYROT_STATE_MACHINE_ARN;
  if (!stateMachineArn) {
    out.error('no state machine: pass --state-machine-arn or set KEYROT_STATE_MACHINE_ARN (or use --local)');
    return EXIT_CODES.INVALID;
  }
  const sfn = new SFNClient({});
  const name = executionName(input.userName, new Date());
  let executionArn: string;
  try {
    const started = await sfn.send(new StartExecutionCommand({ stateMachineArn, name, input: JSON.stringify(input) }));
    executionArn = started.executionArn ?? '';
  } catch (error) {
    if (error instanceof ExecutionAlreadyExists) {
      out.error(`a rotation of ${input.userName} already started today: execution ${name}`);
      return EXIT_CODES.ERROR;
    }
    throw error;
  }
  out.progress(`keyrot: started ${executionArn}`);

  const events: HistoryEvent[] = [];
  const begin = Date.now();
  let transitions = 0;
  for (;;) {
    let nextToken: string | undefined;
    const page: HistoryEvent[] = [];
    do {
      const history = await sfn.send(new GetExecutionHistoryCommand({ executionArn, nextToken, maxResults: 1000 }));
      page.push(...(history.events ?? []));
      nextToken = history.nextToken;
    } while (nextToken);
    for (const event of page.slice(events.length)) {
      events.push(event);
      if (event.stateEnteredEventDetails?.name) {
        transitions += 1;
        out.step(Date.now() - begin, event.stateEnteredEventDetails.name);
      }
    }
    if (TERMINAL.has(events.at(-1)?.type ?? '')) break;
    await new Promise((resolve) => setTimeout(resolve, 2000));
  }
  const described = await sfn.send(new DescribeExecutionCommand({ executionArn }));
  const summary = summarize(events as EventLike[]);
  out.result({
    executionId: executionArn,
    user: input.userName,
    outcome: summary.outcome,
    reason: summary.reason,
    oldKeyId: summary.oldKeyId,
    newKeyId: summary.newKeyId,
    status: described.status ?? 'UNKNOWN',
    durationMs: (described.stopDate?.getTime() ?? Date.now()) - (described.startDate?.getTime() ?? begin),
    stateTransitions: transitions,
  });
  return exitCodeFor(summary, described.error);
}
