import { randomUUID } from 'node:crypto';
import type { AwsCredentialIdentity } from '@aws-sdk/types';
import { InvalidInputError, ServiceUnavailableError } from '../shared/errors';
import {
  readSignedRequest,
  replayToSts,
  signGetCallerIdentity,
  stsEndpoint,
  stsRegion,
  type SignedRequest,
} from './sts-proof';

/**
 * Who asks for a rotation, authenticated: whoever starts an execution (the CLI with the
 * operator's credentials, the scan with its own role) puts in its input a GetCallerIdentity
 * request signed with those credentials, bound to this one rotation by a signed header. Detect
 * replays it to STS and records the ARN STS answers with as `requestedBy`; nothing else in the
 * input says who asked.
 */

/** The signed header that binds a requester's proof to one execution, user and account. */
export const REQUESTER_HEADER = 'x-keyrot-rotation';

/**
 * The rotation a proof is for: the execution's full ARN (region, account, state machine and
 * name, so no other deployment's or local run's execution of the same name accepts it), the
 * member account (or `-`) and the user.
 */
export function requesterBinding(rotation: { executionArn: string; userName: string; account?: string }): string {
  return `${rotation.executionArn} ${rotation.account ?? '-'} ${rotation.userName}`;
}

/**
 * The requester's proof for one rotation, signed with `credentials` (the SDK's default chain
 * when absent) for the STS endpoint Detect replays to. The secret stays with the signer; a
 * session token travels in the proof, and evidence shows only its digest (redactProofs).
 */
export async function signRequester(
  rotation: { executionArn: string; userName: string; account?: string },
  credentials?: AwsCredentialIdentity | (() => Promise<AwsCredentialIdentity>),
  env: NodeJS.ProcessEnv = process.env,
): Promise<SignedRequest> {
  const endpoint = stsEndpoint(env);
  return signGetCallerIdentity(credentials, endpoint, stsRegion(endpoint, env), {
    // The nonce makes every start's input unique, even two signed in the same second.
    headers: { [REQUESTER_HEADER]: requesterBinding(rotation), 'x-keyrot-nonce': randomUUID() },
  });
}

/** `input` as a start sends it: with the proof of who asks, signed for the execution `executionArn` by this process's credentials. */
export async function withRequester<T extends { userName: string; account?: string }>(
  input: T,
  executionArn: string,
  credentials?: AwsCredentialIdentity,
): Promise<T & { requester: SignedRequest }> {
  const rotation = { executionArn, userName: input.userName, ...(input.account ? { account: input.account } : {}) };
  const requester = await signRequester(rotation, credentials);
  return { ...input, requester };
}

/**
 * The ARN of whoever signed the requester's proof of this execution, or InvalidInput naming
 * what is wrong (absent, stale, for another rotation, refused by STS). STS that cannot be
 * reached is ServiceUnavailable (retried). Runs before any other call: nothing changes first.
 */
export async function verifyRequester(
  proof: SignedRequest | undefined,
  rotation: { executionArn: string; userName: string; account?: string },
  options: { now?: Date; stsEndpoint?: string; fetch?: typeof fetch } = {},
): Promise<string> {
  const refuse = (why: string) => new InvalidInputError(`the requester is not verified: ${why}; nothing was changed`);
  if (!proof) {
    throw refuse(
      'the input carries no requester proof (a GetCallerIdentity request signed by whoever starts the rotation; keyrot rotate adds it)',
    );
  }
  const endpoint = options.stsEndpoint ?? stsEndpoint();
  const form = readSignedRequest(proof, new URL(endpoint).host, options.now ?? new Date());
  if ('problem' in form) throw refuse(form.problem);
  const expected = requesterBinding(rotation);
  if (!(REQUESTER_HEADER in form.signed)) throw refuse(`the signature does not cover ${REQUESTER_HEADER}`);
  if (form.signed[REQUESTER_HEADER] !== expected) {
    throw refuse(
      `the proof was signed for the rotation "${form.signed[REQUESTER_HEADER]!.slice(0, 200)}", not "${expected}"`,
    );
  }
  const answer = await replayToSts(form, proof, endpoint, options.fetch);
  if ('unreachable' in answer) {
    throw new ServiceUnavailableError(`STS at ${endpoint} could not be reached to verify the requester`);
  }
  if ('refused' in answer) throw refuse(answer.refused);
  return answer.arn;
}

/**
 * The same identity in the forms ARNs give it: an assumed-role session is its role (by
 * account and role name; the session ARN drops the role's path), a user is its user name in its
 * account. Separation of duties compares these.
 */
export function principalOf(arn: string): string {
  const user = /^arn:aws[\w-]*:iam::(\d{12}):user\/(?:.*\/)?([^/]+)$/.exec(arn);
  if (user) return `${user[1]}:user/${user[2]!.toLowerCase()}`;
  const session = /^arn:aws[\w-]*:sts::(\d{12}):assumed-role\/([^/]+)\/.+$/.exec(arn);
  if (session) return `${session[1]}:role/${session[2]!.toLowerCase()}`;
  const role = /^arn:aws[\w-]*:iam::(\d{12}):role\/(?:.*\/)?([^/]+)$/.exec(arn);
  if (role) return `${role[1]}:role/${role[2]!.toLowerCase()}`;
  return arn.trim().toLowerCase();
}

/** Every header value a credential could be used from, in any proof inside `value`, as its digest. */
const SECRET_HEADERS =
  /("x-amz-security-token"\s*:\s*")([^"]+)(")|(\\"x-amz-security-token\\"\s*:\s*\\")((?:[^"\\]|\\[^"])+)(\\")/gi;

/**
 * JSON text with the session token of every signed proof in it (plain or as JSON inside a JSON
 * string) replaced by `redacted`: evidence keeps who signed (the Authorization's key id and
 * signature), not a credential. For text about to be written, so it is serialized once.
 */
export function redactedText(text: string): string {
  return text.replace(SECRET_HEADERS, (_match, a, _t, c, d, _u, f) => (a ? `${a}redacted${c}` : `${d}redacted${f}`));
}

/** `value` (an input, a record) with redactedText applied; the value itself when it holds no token. */
export function redactProofs<T>(value: T): T {
  const text = JSON.stringify(value);
  if (text === undefined || !/x-amz-security-token/i.test(text)) return value;
  return JSON.parse(redactedText(text)) as T;
}
