import { rollback, RollbackState } from './domain/rollback';
import { clientsFor, settings } from './shared/clients';
import { lambdaHandler } from './shared/lambda';

/** Roll Back: compensate from what exists; idempotent. */
export const handler = lambdaHandler(RollbackState, async (state) =>
  rollback(await clientsFor(state.account), settings(), state),
);
