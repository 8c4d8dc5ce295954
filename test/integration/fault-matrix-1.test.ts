import { afterAll, beforeAll, describe, it } from '@jest/globals';
import { faultMatrixShard, MATRIX_SHARDS } from '../support/matrix-shard';

// One of MATRIX_SHARDS files that share the fault-injection matrix (test/support/matrix-shard.ts).
const shard = faultMatrixShard(0);

describe(`the fault-injection matrix, part 1 of ${MATRIX_SHARDS}`, () => {
  beforeAll(shard.start);
  afterAll(shard.stop);
  it(
    'keeps every invariant with a Lambda dying before and after every AWS call of every handler',
    shard.keepsEveryInvariant,
  );
  it('lets no secret access key into any history, output or log of the matrix', shard.letsNoSecretOut);
});
