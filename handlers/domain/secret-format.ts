/**
 * The shapes in which consumers keep an access key in a secret. Every reader and writer of a
 * user's secret goes through this module, so a new version is always written in the shape
 * (and with the other fields) of the one it replaces.
 */

/** Field names of each supported shape: the id field first, then the secret field. */
export const SECRET_FORMATS = {
  /** keyrot's own: `{"accessKeyId","secretAccessKey"}` (the AWS SDK's credential object). */
  keyrot: ['accessKeyId', 'secretAccessKey'],
  /** Environment-variable names: `{"AWS_ACCESS_KEY_ID","AWS_SECRET_ACCESS_KEY"}`. */
  env: ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY'],
  /** ~/.aws/credentials field names: `{"aws_access_key_id","aws_secret_access_key"}`. */
  credentials: ['aws_access_key_id', 'aws_secret_access_key'],
  /** As IAM's CreateAccessKey returns them: `{"AccessKeyId","SecretAccessKey"}`. */
  iam: ['AccessKeyId', 'SecretAccessKey'],
} as const satisfies Record<string, readonly [string, string]>;

export type SecretFormat = keyof typeof SECRET_FORMATS;

/** The tag (on the secret, else on the user) that fixes a user's secret format. */
export const SECRET_FORMAT_TAG = 'keyrot:secret-format';

/** The format keyrot writes when no secret exists yet and no tag says otherwise. */
export const DEFAULT_SECRET_FORMAT: SecretFormat = 'keyrot';

/** Whether a string names a supported format (a tag's value, say). */
export function isSecretFormat(name: string | undefined): name is SecretFormat {
  return name !== undefined && Object.hasOwn(SECRET_FORMATS, name);
}

/** A parsed secret: the key, its shape, and the whole JSON object (other fields kept as they are). */
export interface ParsedSecret {
  format: SecretFormat;
  accessKeyId: string;
  secretAccessKey: string;
  /** The secret's JSON object; only ever held in memory inside a handler. */
  fields: Record<string, unknown>;
}

/** Why a secret's content is not a key keyrot can read; never quotes the content. */
export type FormatProblem = { problem: string };

const KEY_ID = /^[A-Z0-9]{16,128}$/;

/**
 * Read an access key from a secret's text, in the `format` given (a tag) or the one shape its
 * fields match. Anything else (not JSON, not an object, no known shape, two shapes) is a
 * problem that names the field names it saw, never a value.
 */
export function parseSecret(text: string | undefined, format?: SecretFormat): ParsedSecret | FormatProblem {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text ?? '');
  } catch {
    return { problem: 'holds a plain string, not a JSON object' };
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    return { problem: `holds JSON ${Array.isArray(parsed) ? 'array' : typeof parsed}, not an object` };
  }
  const fields = parsed as Record<string, unknown>;
  const matches = (Object.keys(SECRET_FORMATS) as SecretFormat[]).filter((name) =>
    SECRET_FORMATS[name].every((field) => typeof fields[field] === 'string'),
  );
  const chosen = format ?? (matches.length === 1 ? matches[0] : undefined);
  if (!chosen) {
    const seen = Object.keys(fields).slice(0, 8).map(fieldName).join(', ') || 'no fields';
    return matches.length > 1
      ? { problem: `holds more than one key shape (${matches.join(', ')}): set the tag ${SECRET_FORMAT_TAG}` }
      : { problem: `holds JSON in no known key shape (fields: ${seen}); ${supported()}` };
  }
  const [idField, secretField] = SECRET_FORMATS[chosen];
  const accessKeyId = fields[idField];
  const secretAccessKey = fields[secretField];
  if (typeof accessKeyId !== 'string' || typeof secretAccessKey !== 'string' || secretAccessKey === '') {
    return { problem: `has no ${idField} and ${secretField} strings, as its format ${chosen} requires` };
  }
  if (!KEY_ID.test(accessKeyId)) return { problem: `has a ${idField} that is not an access key id` };
  return { format: chosen, accessKeyId, secretAccessKey, fields };
}

/** Whether parsing gave a problem rather than a key. */
export function isProblem(result: ParsedSecret | FormatProblem): result is FormatProblem {
  return 'problem' in result;
}

/**
 * The text of a new version: `like`'s fields (a consumer's region next to the key, say) with
 * the key replaced, in `format`; without `like`, only the key's two fields.
 */
export function formatSecret(
  format: SecretFormat,
  key: { accessKeyId: string; secretAccessKey: string },
  like: Record<string, unknown> = {},
): string {
  const [idField, secretField] = SECRET_FORMATS[format];
  return JSON.stringify({ ...like, [idField]: key.accessKeyId, [secretField]: key.secretAccessKey });
}

/** One sentence listing the supported shapes, for error messages and help. */
export function supported(): string {
  const shapes = Object.entries(SECRET_FORMATS).map(([name, [id, secret]]) => `${name} {"${id}","${secret}"}`);
  return `supported: ${shapes.join(', ')}`;
}

/** A field name for a message: clipped, and withheld when it could itself be a secret access key. */
const fieldName = (name: string) =>
  /^[A-Za-z0-9/+=]{30,}$/.test(name) ? '(withheld)' : name.length > 40 ? `${name.slice(0, 40)}…` : name;
