import type { ApprovalRecord, WaitingApproval } from '../../handlers/domain/approvals';
import type { LocalExecution, LocalTaskTokens } from '../../local/engine';
import type { LocalAws } from './local-aws';
import type { LocalKey } from '../../local/seed';
import { runRotation } from './rotation-runner';

/** A rotation waiting at its deletion gate, and the way to reach its approval. */
export interface Waiting {
  run: Promise<LocalExecution>;
  settled: () => boolean;
  approvalId: string;
  record: () => Promise<ApprovalRecord>;
  link: string;
  csrf: string;
}

/**
 * Seed `userName`, start its rotation in the local engine and wait (bounded) until its
 * deletion approval exists; the link and CSRF token are those the approval page would use.
 * The handlers' modules are imported here, after the test file pointed the environment at moto.
 */
export async function rotationAtGate(
  world: { aws: LocalAws; tokens: LocalTaskTokens; serverUrl: string },
  userName: string,
  input: Record<string, unknown> = {},
  context?: Record<string, string>,
  /** Who asks for the rotation (default the operator). */
  requester?: LocalKey,
): Promise<Waiting> {
  const approvals = await import('../../handlers/domain/approvals');
  const links = await import('../../handlers/domain/approval-links');
  const { clients, settings } = await import('../../handlers/shared/clients');
  await world.aws.seedUser(userName);
  let done = false;
  const run = runRotation(
    { userName, force: true, config: { validationMode: 'none' }, ...input },
    { decision: 'none', tokens: world.tokens, ...(context ? { context } : {}), ...(requester ? { requester } : {}) },
  ).finally(() => (done = true));
  const deadline = Date.now() + 300_000;
  let pending: WaitingApproval | undefined;
  while (!pending) {
    pending = await waitingApprovalOf(userName);
    if (Date.now() > deadline) throw new Error(`no approval appeared for ${userName}`);
    if (!pending) await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const key = await links.loadLinkKey(clients.secrets, settings());
  const approvalId = pending.approvalId;
  return {
    run,
    settled: () => done,
    approvalId,
    record: async () => (await approvals.getApproval(clients, settings(), approvalId)) as ApprovalRecord,
    link: `${world.serverUrl}/approvals/${approvalId}?sig=${links.linkSignature(key, approvalId)}`,
    csrf: links.csrfToken(key, approvalId),
  };
}

/** The waiting approval of `userName`, as `keyrot approvals` finds it (the Pending index), if any. */
export async function waitingApprovalOf(userName: string): Promise<WaitingApproval | undefined> {
  const { waitingApprovals } = await import('../../handlers/domain/approvals');
  const { clients, settings } = await import('../../handlers/shared/clients');
  for await (const page of waitingApprovals(clients, settings())) {
    const found = page.find((approval) => approval.userName === userName);
    if (found) return found;
  }
  return undefined;
}
