import { createPublicKey, verify, type KeyObject } from 'node:crypto';
import { GetPublicKeyCommand, SignCommand, type KMSClient } from '@aws-sdk/client-kms';
import type { Settings } from '../shared/clients';
import { canonicalJson, sha256Hex } from '../shared/digest';
import { InvalidInputError } from '../shared/errors';
import type { Signature } from '../shared/schemas';

/** The one algorithm keyrot signs manifests with (a SIGN_VERIFY key of spec ECC_NIST_P256). */
export const SIGNING_ALGORITHM = 'ECDSA_SHA_256';

/** Everything a signature binds: the record's fields, the signing key and algorithm included. */
export type Manifest = Omit<Signature, 'digest' | 'kmsSignature'>;

/** A public key to check manifests with, and the KMS key it belongs to when known. */
export interface VerificationKey {
  publicKey: KeyObject;
  /** The KMS key's ARN (from GetPublicKey); undefined for a key read from a PEM file. */
  keyArn?: string;
}

/** The bytes KMS signs: the canonical JSON (sorted keys) of the manifest. */
export function manifestBytes(manifest: Manifest): Buffer {
  return Buffer.from(canonicalJson(manifest), 'utf8');
}

function signingKeyId(config: Pick<Settings, 'signingKeyId'>): string {
  if (!config.signingKeyId) throw new InvalidInputError('KEYROT_SIGNING_KEY_ID is not configured');
  return config.signingKeyId;
}

/**
 * Sign a manifest with the approval function's KMS key (kms:Sign, ECDSA_SHA_256 over the raw
 * canonical bytes): the signature record is the manifest, its SHA-256 and the DER signature in base64.
 */
export async function signManifest(
  kms: KMSClient,
  config: Pick<Settings, 'signingKeyId'>,
  fields: Omit<Manifest, 'signingKeyId' | 'signingAlgorithm'>,
): Promise<Signature> {
  const manifest: Manifest = { ...fields, signingKeyId: signingKeyId(config), signingAlgorithm: SIGNING_ALGORITHM };
  const bytes = manifestBytes(manifest);
  const signed = await kms.send(
    new SignCommand({
      KeyId: manifest.signingKeyId,
      Message: bytes,
      MessageType: 'RAW',
      SigningAlgorithm: SIGNING_ALGORITHM,
    }),
  );
  if (!signed.Signature) throw new Error(`KMS returned no signature for key ${manifest.signingKeyId}`);
  return { ...manifest, digest: sha256Hex(bytes), kmsSignature: Buffer.from(signed.Signature).toString('base64') };
}

const cached = new Map<string, Promise<VerificationKey>>();

/**
 * The signing key's public half from KMS (GetPublicKey, SPKI DER), fetched once per container:
 * manifests are then checked offline, with no KMS call per signature.
 */
export function verificationKey(kms: KMSClient, config: Pick<Settings, 'signingKeyId'>): Promise<VerificationKey> {
  const keyId = signingKeyId(config);
  let found = cached.get(keyId);
  if (!found) {
    found = kms.send(new GetPublicKeyCommand({ KeyId: keyId })).then((answer) => {
      if (!answer.PublicKey) throw new Error(`KMS returned no public key for ${keyId}`);
      return {
        publicKey: createPublicKey({ key: Buffer.from(answer.PublicKey), format: 'der', type: 'spki' }),
        // AWS answers with the key's ARN; moto with its bare id, where the configured ARN stands in.
        keyArn: answer.KeyId?.startsWith('arn:') ? answer.KeyId : keyId,
      };
    });
    // A failed fetch (KMS unreachable) is not remembered: the step's retry asks again.
    found.catch(() => cached.delete(keyId));
    cached.set(keyId, found);
  }
  return found;
}

/** A public key from PEM text (what `keyrot public-key` exports), or a one-line error. */
export function verificationKeyFromPem(pem: string, from: string): VerificationKey {
  try {
    const publicKey = createPublicKey({ key: pem, format: 'pem' });
    if (publicKey.asymmetricKeyType !== 'ec') throw new Error(`a ${publicKey.asymmetricKeyType} key`);
    return { publicKey };
  } catch (error) {
    throw new InvalidInputError(`${from} is not an EC public key in PEM form (${(error as Error).message})`);
  }
}

/** The public key as PEM (SubjectPublicKeyInfo), for auditors to verify with and nothing else. */
export function publicKeyPem(key: VerificationKey): string {
  return key.publicKey.export({ type: 'spki', format: 'pem' }).toString();
}

/**
 * Why a signature's KMS signature does not hold, or undefined when it does: its digest is the
 * SHA-256 of its manifest, it names the expected key (when the key's ARN is known) and the
 * algorithm keyrot uses, and the ECDSA signature over the manifest verifies with `key`.
 */
export function manifestProblem(signature: Signature, key: VerificationKey): string | undefined {
  const { digest, kmsSignature, ...manifest } = signature;
  const bytes = manifestBytes(manifest);
  if (manifest.signingAlgorithm !== SIGNING_ALGORITHM) return `it names the algorithm ${manifest.signingAlgorithm}`;
  if (key.keyArn && manifest.signingKeyId !== key.keyArn)
    return `it names the signing key ${manifest.signingKeyId}, not ${key.keyArn}`;
  if (digest !== sha256Hex(bytes)) return 'its digest does not match its manifest';
  let valid = false;
  try {
    valid = verify('sha256', bytes, key.publicKey, Buffer.from(kmsSignature, 'base64'));
  } catch {
    // Bytes that are not a DER ECDSA signature at all: as forged as a wrong one.
  }
  return valid ? undefined : "its KMS signature does not verify with keyrot's public key";
}
