/** Deployment settings read from the environment, with the defaults local mode uses. */
export interface Settings {
  secretPrefix: string;
  exemptTag: string;
  topicArn: string | undefined;
  approvalsTable: string | undefined;
  kmsKeyId: string | undefined;
  /** The asymmetric KMS key (ARN) approval signatures are signed with (SIGN_VERIFY, ECC_NIST_P256). */
  signingKeyId: string | undefined;
  /** Where approval links point: the deployed function URL, or the local approval server. */
  approvalBaseUrl: string | undefined;
  /** The Secrets Manager secret holding the HMAC key for approval links and CSRF tokens. */
  linkKeySecret: string | undefined;
  /** User names allowed to sign approvals. */
  approvers: string[];
  /** The Cognito user pool of the approvers, and its app client they authenticate through (USER_PASSWORD_AUTH). */
  approverPoolId: string | undefined;
  approverClientId: string | undefined;
}

/** Read the settings from the environment at call time (tests change it). */
export function settings(): Settings {
  return {
    secretPrefix: process.env.KEYROT_SECRET_PREFIX ?? 'keyrot/',
    exemptTag: process.env.KEYROT_EXEMPT_TAG ?? 'keyrot:exempt',
    topicArn: process.env.KEYROT_TOPIC_ARN || undefined,
    approvalsTable: process.env.KEYROT_APPROVALS_TABLE || undefined,
    kmsKeyId: process.env.KEYROT_KMS_KEY_ID || undefined,
    signingKeyId: process.env.KEYROT_SIGNING_KEY_ID || undefined,
    approvalBaseUrl: process.env.KEYROT_APPROVAL_BASE_URL?.replace(/\/+$/, '') || undefined,
    linkKeySecret: process.env.KEYROT_LINK_KEY_SECRET || undefined,
    approvers: (process.env.KEYROT_APPROVERS ?? '')
      .split(',')
      .map((name) => name.trim())
      .filter(Boolean),
    approverPoolId: process.env.KEYROT_APPROVER_POOL_ID || undefined,
    approverClientId: process.env.KEYROT_APPROVER_CLIENT_ID || undefined,
  };
}
