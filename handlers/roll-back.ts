import { rollback, RollbackState } from './domain/rollback';
import { clients, settings } from './shared/clients';
import { lambdaHandler } from './shared/lambda';

/** Roll Back: compensate from what exists; idempotent. */
export const handler = lambdaHandler(RollbackState, (state) => rollback(clients, settings(), state));
