/**
 * The approvals table's global secondary indexes. Every read of the table is by key or by a
 * Query on one of these, never a Scan: the table holds every approval ever requested, the
 * approver directory and the sign-in counters. The stack and local mode build the indexes from
 * this list and the core queries them by these names, so the three cannot drift apart.
 */
export interface ApprovalIndex {
  name: string;
  partitionKey: string;
  sortKey?: string;
  /** Non-key attributes copied into the index: only what its readers use. */
  projected: readonly string[];
}

/** An execution's records (approvals and its confirmation) by status: superseding, closing, links, TTL. */
export const BY_EXECUTION = {
  name: 'ByExecution',
  partitionKey: 'executionId',
  sortKey: 'status',
  projected: ['gate', 'expiresAt'],
} as const satisfies ApprovalIndex;

/**
 * Sparse: only an approval still PENDING carries `pending` (removed in the write that closes
 * it), so `keyrot approvals` reads the waiting ones only, soonest expiry first, whatever the
 * table's size. Projected: the fields the listing prints and its `--json` rows.
 */
export const PENDING = {
  name: 'Pending',
  partitionKey: 'pending',
  sortKey: 'expiresAt',
  projected: [
    'executionId',
    'gate',
    'state',
    'status',
    'userName',
    'keyIds',
    'requestedBy',
    'requestedAt',
    'failedSignIns',
    'failedSignInCount',
    'throttledSignIns',
  ],
} as const satisfies ApprovalIndex;

/** The value of `pending` on every waiting approval: one partition, small by construction. */
export const PENDING_PARTITION = 'PENDING';

/** Sparse: only the sign-in counters carry `identity`, so an unlock finds one user name's counters. */
export const BY_IDENTITY = {
  name: 'ByIdentity',
  partitionKey: 'identity',
  projected: ['attempts'],
} as const satisfies ApprovalIndex;

export const APPROVAL_INDEXES: readonly ApprovalIndex[] = [BY_EXECUTION, PENDING, BY_IDENTITY];
