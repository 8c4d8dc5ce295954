import {
  DescribeExecutionCommand,
  DescribeStateMachineForExecutionCommand,
  GetExecutionHistoryCommand,
  type SFNClient,
} from '@aws-sdk/client-sfn';
import { redactProofs } from './requester';

/** One event in `GetExecutionHistory`'s format, with the timestamp as an ISO-8601 UTC string. */
export interface HistoryEvent {
  id: number;
  previousEventId?: number;
  timestamp: string;
  type: string;
  [details: string]: unknown;
}

/**
 * Everything an auditor needs about one execution, the same whether it was read from the
 * Step Functions API, from the evidence archive or from a local run: what DescribeExecution
 * says, the definition it ran, and every history event.
 */
export interface ExecutionRecord {
  executionArn: string;
  stateMachineArn: string;
  name: string;
  status: string;
  startDate: string;
  stopDate?: string;
  /** How many times the execution was redriven (0 when never). */
  redriveCount: number;
  input: unknown;
  /** The state machine definition (ASL JSON text) the execution ran, when known. */
  definition?: string;
  events: HistoryEvent[];
  /**
   * The failed sign-ins at the execution's approvals (kept on the approval records, not in the
   * history): added by the archiver, so the evidence holds every failed attempt to sign.
   */
  signIns?: SignInEvidence[];
}

/** One approval's failed sign-ins, as the archive keeps them: never a password. */
export interface SignInEvidence {
  approvalId: string;
  gate?: string;
  status: string;
  /** The first failures one by one (user name typed, normalized; attempt number; why). */
  failed: { at: string; identity: string; attempt: number; why?: string }[];
  /** Every failure, listed or not. */
  failedCount: number;
  /** Attempts the throttle refused before any password was checked. */
  throttled: number;
}

/** A timestamp as the SDK (Date), the raw API (epoch seconds) or a file (ISO text) gives it, in ISO UTC. */
export function isoTime(value: unknown): string {
  if (value instanceof Date) return value.toISOString();
  if (typeof value === 'number') return new Date(value * 1000).toISOString();
  if (typeof value === 'string') {
    const parsed = new Date(value);
    if (!Number.isNaN(parsed.getTime())) return parsed.toISOString();
  }
  throw new Error(`not a timestamp: ${JSON.stringify(value)}`);
}

/** A history event with its timestamp normalized and empty details dropped, so every source compares equal. */
export function normalizeEvent(event: Record<string, unknown>): HistoryEvent {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(event)) {
    if (value === undefined || value === null) continue;
    out[key] = key === 'timestamp' ? isoTime(value) : value;
  }
  return out as HistoryEvent;
}

function parseJson(text: string | undefined): unknown {
  if (text === undefined) return null;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

/**
 * Read an execution from the Step Functions API: DescribeExecution, the definition it ran,
 * and every page of its history. `onPage` reports progress on long histories.
 */
export async function readExecution(
  sfn: SFNClient,
  executionArn: string,
  onPage: (eventsSoFar: number) => void = () => {},
): Promise<ExecutionRecord> {
  const described = await sfn.send(new DescribeExecutionCommand({ executionArn }));
  const machine = await sfn.send(new DescribeStateMachineForExecutionCommand({ executionArn }));
  const events: HistoryEvent[] = [];
  let nextToken: string | undefined;
  do {
    const page = await sfn.send(new GetExecutionHistoryCommand({ executionArn, nextToken, maxResults: 1000 }));
    for (const event of page.events ?? []) events.push(normalizeEvent(event as unknown as Record<string, unknown>));
    nextToken = page.nextToken;
    onPage(events.length);
  } while (nextToken);
  // A requester's session token is a credential: the evidence keeps who signed, not the token.
  return redactProofs({
    executionArn,
    stateMachineArn: described.stateMachineArn ?? machine.stateMachineArn ?? '',
    name: described.name ?? executionArn.split(':').at(-1) ?? '',
    status: described.status ?? 'UNKNOWN',
    startDate: isoTime(described.startDate),
    ...(described.stopDate ? { stopDate: isoTime(described.stopDate) } : {}),
    redriveCount: described.redriveCount ?? 0,
    input: parseJson(described.input),
    ...(machine.definition ? { definition: machine.definition } : {}),
    events,
  });
}

/** The IAM user an execution rotated, from its input; undefined when the input names none. */
export function userOf(record: Pick<ExecutionRecord, 'input'>): string | undefined {
  const user = (record.input as { userName?: unknown } | null)?.userName;
  return typeof user === 'string' && /^[\w+=,.@-]{1,64}$/.test(user) ? user : undefined;
}

/** Account id of an ARN (`arn:aws:states:<region>:<account>:...`). */
export function accountOf(arn: string): string {
  return arn.split(':')[4] || 'unknown';
}

/**
 * The account of the IAM user an execution rotated, from the user ARN detection put in the
 * state; the execution's own account when detection never ran. (With member accounts the
 * user lives elsewhere than the state machine.)
 */
export function userAccountOf(record: Pick<ExecutionRecord, 'executionArn' | 'events'>): string {
  for (const event of record.events) {
    const output = (event.stateExitedEventDetails as { output?: string } | undefined)?.output;
    const userArn = output?.match(/"userArn":"(arn:[^"]+)"/)?.[1];
    if (userArn) return accountOf(userArn);
  }
  return accountOf(record.executionArn);
}

/** How an ended execution ended: its status, and the cause its closing event gives. */
export function endingOf(record: ExecutionRecord): { executionArn: string; status: string; cause?: string } {
  const last = record.events.at(-1);
  const details = (last?.executionAbortedEventDetails ??
    last?.executionFailedEventDetails ??
    last?.executionTimedOutEventDetails) as { cause?: string } | undefined;
  return {
    executionArn: record.executionArn,
    status: record.status,
    ...(details?.cause ? { cause: details.cause } : {}),
  };
}
