import { confirmationId } from '../handlers/domain/confirmation';
import { signGetCallerIdentity, stsRegion } from '../handlers/domain/sts-proof';
import { readKey } from '../handlers/domain/secret';
import { clients, settings } from '../handlers/shared/clients';
import { findExecution, readServerInfo } from '../local/store';
import { EXIT_CODES } from './outcome';

/** Exit codes of `keyrot confirm`. */
export const CONFIRM_EXIT = { CONFIRMED: 0, ERROR: 1, REFUSED: 4, NOT_FOUND: EXIT_CODES.NOT_FOUND } as const;

export interface ConfirmOptions {
  local: boolean;
  url?: string;
  stateMachineArn?: string;
  json: boolean;
}

interface Answer {
  status: number;
  message: string;
  confirmation?: { secretId?: string; stsEndpoint?: string; userName?: string; keyId?: string; arn?: string };
}

/** The execution ARN for a name (local store, or the deployed state machine) or an ARN as given. */
function executionArnOf(execution: string, options: ConfirmOptions): string | undefined {
  if (execution.startsWith('arn:')) return execution;
  if (options.local) return findExecution(execution)?.executionArn;
  const machine = options.stateMachineArn ?? process.env.KEYROT_STATE_MACHINE_ARN;
  if (!machine) throw new Error('no state machine: pass --state-machine-arn, set KEYROT_STATE_MACHINE_ARN, or --local');
  return `${machine.replace(':stateMachine:', ':execution:')}:${execution}`;
}

/** Only keyrot's own kind of STS endpoint gets a signature: https, or the local AWS on this machine. */
function trustedEndpoint(endpoint: string): boolean {
  const url = new URL(endpoint);
  return url.protocol === 'https:' || ['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname);
}

/**
 * `keyrot confirm <execution>`: prove, for a consumer, that the new key works. Reads AWSCURRENT
 * of the user's secret, signs an STS GetCallerIdentity request with it (the secret stays here),
 * and posts the signed request to the confirmation endpoint, which replays it to STS.
 */
export async function confirmConsumer(execution: string, options: ConfirmOptions): Promise<number> {
  const executionArn = executionArnOf(execution, options);
  if (!executionArn) {
    process.stderr.write(`keyrot: no local execution ${execution}\n`);
    return CONFIRM_EXIT.NOT_FOUND;
  }
  const base = (options.url ?? (options.local ? readServerInfo() : settings().approvalBaseUrl))?.replace(/\/+$/, '');
  if (!base) throw new Error('no confirmation endpoint: pass --url or set KEYROT_APPROVAL_BASE_URL');
  const url = `${base}/confirm/${confirmationId(executionArn)}`;
  const post = async (body?: string): Promise<Answer> => {
    let response: Response;
    try {
      response = await fetch(url, {
        method: body === undefined ? 'GET' : 'POST',
        headers: { accept: 'application/json', ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        body,
        signal: AbortSignal.timeout(30_000),
      });
    } catch {
      throw new Error(`the confirmation endpoint ${base} cannot be reached: is the rotation still waiting?`);
    }
    return (await response.json()) as Answer;
  };
  const waiting = await post();
  const endpoint = waiting.confirmation?.stsEndpoint;
  if (waiting.status !== 200 || !waiting.confirmation?.secretId || !endpoint) return report(waiting, options);
  if (!trustedEndpoint(endpoint))
    throw new Error(`the endpoint names an STS endpoint keyrot does not sign for: ${endpoint}`);
  const key = await readKey(clients.secrets, waiting.confirmation.secretId, { VersionStage: 'AWSCURRENT' });
  const signed = await signGetCallerIdentity(key, endpoint, stsRegion(endpoint));
  if (!options.json)
    process.stderr.write(
      `signed GetCallerIdentity with ${key.accessKeyId} from AWSCURRENT of ${waiting.confirmation.secretId}\n`,
    );
  return report(await post(JSON.stringify(signed)), options);
}

function report(answer: Answer, options: ConfirmOptions): number {
  if (options.json) process.stdout.write(`${JSON.stringify(answer)}\n`);
  else if (answer.status === 200 && answer.confirmation?.arn) process.stdout.write(`${answer.message}\n`);
  else process.stderr.write(`keyrot: ${answer.message}\n`);
  if (answer.status === 200 && answer.confirmation?.arn) return CONFIRM_EXIT.CONFIRMED;
  return answer.status === 404 ? CONFIRM_EXIT.NOT_FOUND : CONFIRM_EXIT.REFUSED;
}
