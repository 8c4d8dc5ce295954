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
