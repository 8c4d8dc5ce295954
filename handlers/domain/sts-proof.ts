import { createHash, createHmac } from 'node:crypto';
import { STSClient } from '@aws-sdk/client-sts';
import type { AwsCredentialIdentity } from '@aws-sdk/types';
import { SignatureV4 } from '@smithy/signature-v4';
import { SignedRequest } from '../shared/schemas';

export { SignedRequest };

/**
 * Signed STS GetCallerIdentity requests as proofs of identity (as Vault's IAM auth method
 * uses them): the holder of a credential signs the request, keyrot replays it to STS as-is and
 * reads who STS says signed it. The secret never travels. Two proofs use this form: the
 * consumer's proof that it holds the new key (confirmation.ts) and the requester's proof of
 * who asks for a rotation (requester.ts).
 */

/** How far a proof's X-Amz-Date may be from keyrot's clock. */
export const PROOF_MAX_SKEW_MS = 5 * 60_000;
const MAX_STS_ANSWER = 64 * 1024;

/**
 * The STS endpoint proofs are replayed to: from configuration only (moto locally, the regional
 * endpoint deployed), never from the request, so the endpoint cannot be pointed elsewhere.
 */
export function stsEndpoint(env: NodeJS.ProcessEnv = process.env): string {
  const configured = env.AWS_ENDPOINT_URL_STS || env.AWS_ENDPOINT_URL;
  const region = env.AWS_REGION || env.AWS_DEFAULT_REGION || 'us-east-1';
  return (configured || `https://sts.${region}.amazonaws.com`).replace(/\/+$/, '');
}

/** The region a signature for `endpoint` is scoped to (the regional STS host names it). */
export function stsRegion(endpoint: string, env: NodeJS.ProcessEnv = process.env): string {
  return (
    /^sts\.([a-z0-9-]+)\.amazonaws\.com$/.exec(new URL(endpoint).hostname)?.[1] ??
    env.AWS_REGION ??
    env.AWS_DEFAULT_REGION ??
    'us-east-1'
  );
}

const AUTHORIZATION =
  /^AWS4-HMAC-SHA256 Credential=([A-Z0-9]+)\/(\d{8})\/([a-z0-9-]+)\/([a-z0-9-]+)\/aws4_request, ?SignedHeaders=([a-z0-9;-]+), ?Signature=[0-9a-f]{64}$/;
const AMZ_DATE = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/;
/** Headers fetch sets from the URL and body itself. */
const NOT_FORWARDED = new Set(['host', 'content-length', 'connection', 'transfer-encoding']);

/** What the form of a signed request says, once it is one keyrot may replay. */
export interface SignedForm {
  /** The access key id the request is signed with. */
  keyId: string;
  signedAt: string;
  /** The headers (lower-cased names) the signature covers, with their values ('' when absent). */
  signed: Record<string, string>;
  /** The Authorization header itself. */
  authorization: string;
}

/**
 * Why `request` cannot be a proof, before asking STS (`{ problem }`), or what its form says:
 * a signed POST of GetCallerIdentity for `host`, covering host and date, fresh, with the body it
 * was signed over.
 */
export function readSignedRequest(request: SignedRequest, host: string, now: Date): { problem: string } | SignedForm {
  const headers = Object.fromEntries(
    Object.entries(request.headers).map(([name, value]) => [name.toLowerCase(), value]),
  );
  // Two spellings of one header would let the checks read one and the replay send the other.
  const twice = Object.keys(request.headers).find(
    (name, index, names) => names.findIndex((other) => other.toLowerCase() === name.toLowerCase()) !== index,
  );
  if (twice) return { problem: `the request carries the header ${twice.slice(0, 64).toLowerCase()} twice` };
  if (request.url !== undefined) {
    if (!URL.canParse(request.url)) return { problem: 'the request url is not a URL' };
    const named = new URL(request.url).host;
    if (named !== host) return { problem: `the request names ${named}, but keyrot checks proofs with STS at ${host}` };
  }
  if (request.method.toUpperCase() !== 'POST') {
    return { problem: `only a signed POST is accepted (got ${request.method.slice(0, 16)}); a presigned URL is not` };
  }
  const params = new URLSearchParams(request.body);
  if (params.get('Action') !== 'GetCallerIdentity')
    return { problem: 'the signed request is not STS GetCallerIdentity' };
  const auth = AUTHORIZATION.exec(headers.authorization ?? '');
  if (!auth) return { problem: 'the request carries no AWS Signature Version 4 Authorization header' };
  const [, keyId, day, , service, signedHeaders] = auth as unknown as string[];
  if (service !== 'sts') return { problem: `the request is signed for ${service}, not sts` };
  const names = (signedHeaders ?? '').split(';');
  if (!names.includes('host') || !names.includes('x-amz-date'))
    return { problem: 'the signature does not cover host and x-amz-date' };
  const date = AMZ_DATE.exec(headers['x-amz-date'] ?? '');
  if (!date) return { problem: 'the request has no valid X-Amz-Date' };
  const [, y, mo, d, h, mi, s] = date;
  const signedAt = new Date(`${y}-${mo}-${d}T${h}:${mi}:${s}Z`);
  if (`${y}${mo}${d}` !== day) return { problem: 'the credential scope date does not match X-Amz-Date' };
  if (Math.abs(now.getTime() - signedAt.getTime()) > PROOF_MAX_SKEW_MS) {
    return {
      problem: `signed at ${signedAt.toISOString()}, more than 5 minutes from ${now.toISOString()}: sign a fresh request`,
    };
  }
  // STS checks the signature over this header; the body must be the one it was computed from.
  const bodyHash = headers['x-amz-content-sha256'];
  if (bodyHash && bodyHash !== createHash('sha256').update(request.body).digest('hex')) {
    return { problem: 'the body does not match its signed hash (x-amz-content-sha256): it was changed after signing' };
  }
  if ((headers.host ?? '').toLowerCase() !== host.toLowerCase()) {
    return {
      problem: `signed for host ${(headers.host ?? '').slice(0, 100)}, but keyrot checks proofs with STS at ${host}`,
    };
  }
  const signed = Object.fromEntries(names.map((name) => [name, headers[name] ?? '']));
  return { keyId: keyId!, signedAt: signedAt.toISOString(), signed, authorization: headers.authorization! };
}

/** The text between `<tag>` and `</tag>` in an STS answer. */
const xmlField = (xml: string, tag: string) => new RegExp(`<${tag}>([^<]{1,2048})</${tag}>`).exec(xml)?.[1];

/** What STS said of a replayed proof: who signed it, why it refused, or that it could not be asked. */
export type StsAnswer = { arn: string } | { refused: string } | { unreachable: true };

/**
 * Replay a signed request to STS at `endpoint` as readSignedRequest read it: only the signed
 * headers it carries and the Authorization travel (fetch derives host and length from the URL
 * and body).
 */
export async function replayToSts(
  form: SignedForm,
  request: SignedRequest,
  endpoint: string,
  fetchFn: typeof fetch = fetch,
): Promise<StsAnswer> {
  const present = new Set(Object.keys(request.headers).map((name) => name.toLowerCase()));
  const headers: Record<string, string> = { authorization: form.authorization };
  for (const [name, value] of Object.entries(form.signed)) {
    if (present.has(name) && !NOT_FORWARDED.has(name)) headers[name] = value;
  }
  let answer: { ok: boolean; text: string };
  try {
    const response = await fetchFn(`${endpoint}/`, {
      method: 'POST',
      headers,
      body: request.body,
      redirect: 'error',
      signal: AbortSignal.timeout(10_000),
    });
    answer = { ok: response.ok, text: (await response.text()).slice(0, MAX_STS_ANSWER) };
  } catch {
    return { unreachable: true };
  }
  const arn = answer.ok ? xmlField(answer.text, 'Arn') : undefined;
  if (arn) return { arn };
  const code = xmlField(answer.text, 'Code') ?? 'no identity in its answer';
  return {
    refused:
      code === 'SignatureDoesNotMatch'
        ? 'STS says SignatureDoesNotMatch: the request was changed after signing or signed with a wrong secret'
        : `STS refused the signed request: ${code}`,
  };
}

/** SHA-256 (and HMAC-SHA256 with a secret) in the shape the SigV4 signer takes, from node:crypto. */
class Sha256 {
  private hash: ReturnType<typeof createHash> | ReturnType<typeof createHmac>;
  constructor(private readonly secret?: SourceData) {
    this.hash = Sha256.start(secret);
  }
  private static start(secret?: SourceData) {
    return secret === undefined ? createHash('sha256') : createHmac('sha256', bytes(secret));
  }
  update(data: SourceData): void {
    this.hash.update(bytes(data));
  }
  digest(): Promise<Uint8Array> {
    return Promise.resolve(new Uint8Array(this.hash.digest()));
  }
  reset(): void {
    this.hash = Sha256.start(this.secret);
  }
}

type SourceData = string | ArrayBuffer | ArrayBufferView;
const bytes = (data: SourceData): Buffer =>
  typeof data === 'string'
    ? Buffer.from(data, 'utf8')
    : ArrayBuffer.isView(data)
      ? Buffer.from(data.buffer, data.byteOffset, data.byteLength)
      : Buffer.from(data);

const GET_CALLER_IDENTITY = 'Action=GetCallerIdentity&Version=2011-06-15';

/**
 * A GetCallerIdentity request signed with `credentials` (SigV4, the SDK's own signer) for
 * `endpoint`, built and never sent: what a consumer or a requester hands keyrot as proof.
 * `headers` are signed with it (a requester binds its proof to one rotation this way).
 */
export async function signGetCallerIdentity(
  /** The SDK's default chain when absent. */
  credentials: AwsCredentialIdentity | (() => Promise<AwsCredentialIdentity>) | undefined,
  endpoint: string,
  region: string,
  options: {
    /** Milliseconds the signer's clock is off, as the SDK's systemClockOffset (a consumer with a skewed clock). */
    systemClockOffset?: number;
    headers?: Record<string, string>;
  } = {},
): Promise<SignedRequest> {
  const url = new URL(endpoint.endsWith('/') ? endpoint : `${endpoint}/`);
  const signer = new SignatureV4({
    // The default chain as an STS client resolves it (environment, profile, container or instance role).
    credentials: credentials ?? new STSClient({ region }).config.credentials,
    region,
    service: 'sts',
    sha256: Sha256,
  });
  const signed = await signer.sign(
    {
      method: 'POST',
      protocol: url.protocol,
      hostname: url.hostname,
      ...(url.port ? { port: Number(url.port) } : {}),
      path: url.pathname,
      query: {},
      headers: {
        host: url.host,
        'content-type': 'application/x-www-form-urlencoded; charset=utf-8',
        'x-amz-content-sha256': createHash('sha256').update(GET_CALLER_IDENTITY).digest('hex'),
        ...options.headers,
      },
      body: GET_CALLER_IDENTITY,
    },
    { signingDate: new Date(Date.now() + (options.systemClockOffset ?? 0)) },
  );
  return { method: 'POST', url: url.toString(), headers: { ...signed.headers }, body: GET_CALLER_IDENTITY };
}
