import { confirmOldKeyRefused } from './domain/verify';
import { clientsFor } from './shared/clients';
import { lambdaHandler } from './shared/lambda';
import { StateWithNewKey } from './shared/schemas';

/** Confirm Old Key Refused: STS must reject the deleted key. */
export const handler = lambdaHandler(StateWithNewKey, async (state) =>
  confirmOldKeyRefused(await clientsFor(state.account), state),
);
