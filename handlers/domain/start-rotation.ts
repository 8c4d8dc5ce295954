import { ExecutionAlreadyExists, StartExecutionCommand, type SFNClient } from '@aws-sdk/client-sfn';
import { sha256Hex } from '../shared/digest';
import { ExecutionInput, type SignedRequest } from '../shared/schemas';
import { withRequester } from './requester';

/**
 * Execution names: the user and the UTC day (the rotation window), so a second start the same
 * day meets the first. Characters Step Functions refuses (and `_`, to stay one-to-one) are
 * hex-escaped; a user in a member account is prefixed with the account; a long name is
 * shortened with a hash. At most 80 characters, as Step Functions allows.
 */
export function executionName(user: string, when: Date, attempt = 1, account?: string): string {
  const day = when.toISOString().slice(0, 10).replace(/-/g, '');
  const room = account ? 49 : 62;
  let safe = user.replace(/[^A-Za-z0-9-]/g, (c) => `_${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
  if (safe.length > room) safe = `${safe.slice(0, room - 9)}_${sha256Hex(user).slice(0, 8)}`;
  return `${account ? `${account}-` : ''}${safe}-${day}${attempt > 1 ? `-${attempt}` : ''}`;
}

/** A rotation the scan asks for: the user, and the member account it lives in (absent: our own). */
export interface DueUser {
  userName: string;
  account?: string;
}

/** The ARN Step Functions gives the execution `name` of a state machine. */
export function executionArnOf(stateMachineArn: string, name: string): string {
  return `${stateMachineArn.replace(':stateMachine:', ':execution:')}:${name}`;
}

/**
 * Start `name` with `input`, or learn that the name is taken (undefined). Every start's input
 * carries a fresh requester proof (a nonce is signed into it), so no two inputs are alike and
 * Step Functions answers a taken name with ExecutionAlreadyExists, never with another start's
 * execution: no start date needs reading to tell them apart.
 */
export async function startNamed(
  sfn: SFNClient,
  stateMachineArn: string,
  name: string,
  input: ExecutionInput & { requester: SignedRequest },
): Promise<string | undefined> {
  try {
    const response = await sfn.send(new StartExecutionCommand({ stateMachineArn, name, input: JSON.stringify(input) }));
    return response.executionArn ?? executionArnOf(stateMachineArn, name);
  } catch (error) {
    if (error instanceof ExecutionAlreadyExists || (error as Error).name === 'ExecutionAlreadyExists') return undefined;
    throw error;
  }
}

/**
 * Start the day's rotation of a user unless it already started: the execution name is the
 * lock, so a second scan in the same window starts nothing new. The requester is whoever runs
 * this (the scan's role deployed, the operator from the CLI): its proof is signed with the
 * credentials this process has.
 */
export async function startRotation(
  sfn: SFNClient,
  stateMachineArn: string,
  due: DueUser,
  when: Date,
): Promise<{ name: string; started: boolean }> {
  const name = executionName(due.userName, when, 1, due.account);
  const request = ExecutionInput.parse({ userName: due.userName, ...(due.account ? { account: due.account } : {}) });
  const proven = await withRequester(request, executionArnOf(stateMachineArn, name));
  const started = await startNamed(sfn, stateMachineArn, name, proven);
  return { name, started: started !== undefined };
}
