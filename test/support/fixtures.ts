import { generateKeyPairSync, sign } from 'node:crypto';
import {
  GetPublicKeyCommand,
  SignCommand,
  type KMSClientResolvedConfig,
  type ServiceInputTypes,
  type ServiceOutputTypes,
  type SignCommandInput,
} from '@aws-sdk/client-kms';
import type { AwsStub } from 'aws-sdk-client-mock';
import type { VerificationKey } from '../../handlers/domain/signing';
import type { RotationConfig, StateWithNewKey } from '../../handlers/shared/schemas';

export const OLD_KEY = 'AKIAOLDKEY000000001';
export const NEW_KEY = 'AKIANEWKEY000000002';
export const EXECUTION = 'arn:aws:states:us-east-1:000000000000:execution:Keyrot-Rotation:alice-20261122';

const config: RotationConfig = {
  maxAgeDays: 90,
  approveRotation: false,
  approveDeletion: true,
  validationMode: 'none',
  validationTimeoutSeconds: 86_400,
  validationPollSeconds: 300,
  graceSeconds: 0,
};

/** The state after detection of a due key for user alice. */
export function detectedState() {
  return {
    executionId: EXECUTION,
    startedAt: '2026-11-22T10:00:00.000Z',
    userName: 'alice',
    userArn: 'arn:aws:iam::123456789012:user/alice',
    requestedBy: 'ops',
    asOf: '2026-11-22T10:00:00.000Z',
    force: false,
    secretId: 'keyrot/alice',
    config,
    detection: {
      decision: 'ROTATE' as const,
      reason: 'due',
      oldKeyId: OLD_KEY,
      keys: [
        {
          keyId: OLD_KEY,
          status: 'Active' as const,
          createdAt: '2026-01-01T00:00:00.000Z',
          ageDays: 325,
          lastUsedAt: null,
        },
      ],
    },
  };
}

/** The state once the new key exists. */
export function createdState(): StateWithNewKey {
  return {
    ...detectedState(),
    created: { newKeyId: NEW_KEY, secretVersionId: 'version-new', createdAt: '2026-11-22T10:00:01.000Z' },
  };
}

/** A Secrets Manager answer holding a key (never a real secret). */
export function secretValue(accessKeyId: string, versionId = 'v') {
  return {
    SecretString: JSON.stringify({ accessKeyId, secretAccessKey: `not-a-secret-${accessKeyId}` }),
    VersionId: versionId,
  };
}

/** The signing key's ARN the unit tests' KMS stand-in answers for. */
export const SIGNING_KEY = 'arn:aws:kms:us-east-1:123456789012:key/11111111-2222-3333-4444-555555555555';

/**
 * Make a mocked KMS client behave as the signing key would, with a P-256 key pair of the test's
 * own: Sign is ECDSA over the raw message (DER), GetPublicKey answers the SPKI DER. Returns the
 * public half, to check signatures with.
 */
export function standInSigningKey(
  kms: AwsStub<ServiceInputTypes, ServiceOutputTypes, KMSClientResolvedConfig>,
): VerificationKey {
  const pair = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  kms.on(SignCommand).callsFake((input: SignCommandInput) => ({
    KeyId: input.KeyId,
    Signature: sign('sha256', Buffer.from(input.Message ?? []), pair.privateKey),
    SigningAlgorithm: input.SigningAlgorithm,
  }));
  kms.on(GetPublicKeyCommand).resolves({
    KeyId: SIGNING_KEY,
    PublicKey: pair.publicKey.export({ type: 'spki', format: 'der' }),
    KeySpec: 'ECC_NIST_P256',
    KeyUsage: 'SIGN_VERIFY',
  });
  return { publicKey: pair.publicKey, keyArn: SIGNING_KEY };
}
