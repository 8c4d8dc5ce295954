import { confirmOldKeyRefused } from './domain/verify';
import { accountClients } from './shared/aws/account';
import { keySigned } from './shared/aws/sts';
import { lambdaHandler } from './shared/lambda';
import { StateWithNewKey } from './shared/schemas';

/** Confirm Old Key Refused: STS must reject the deleted key. */
export const handler = lambdaHandler(StateWithNewKey, async (state) =>
  confirmOldKeyRefused({ ...(await accountClients(state.account)), stsFor: keySigned.stsFor }, state),
);
