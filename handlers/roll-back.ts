import { rollback, RollbackState } from './domain/rollback';
import { accountClients } from './shared/aws/account';
import { sns } from './shared/aws/sns';
import { settings } from './shared/settings';
import { lambdaHandler } from './shared/lambda';

/** Roll Back: compensate from what exists; idempotent. */
export const handler = lambdaHandler(RollbackState, async (state) =>
  rollback({ ...(await accountClients(state.account)), sns }, settings(), state),
);
