import assert from 'node:assert/strict';
import { afterAll, beforeAll, describe, it } from '@jest/globals';
import { cliSession } from '../support/cli';
import { LocalAws } from '../support/local-aws';

// `keyrot scan` from the command line over this file's own moto users.
let aws: LocalAws;
const { keyrot } = cliSession(() => aws);

beforeAll(async () => {
  aws = await LocalAws.start();
});
afterAll(async () => aws?.stop());

describe('keyrot scan', () => {
  it('judges every user with keys, exits 3 when some are due, and --start starts each once per day', async () => {
    const machine = await aws.stateMachine('keyrot-scan-target');
    await aws.seedUser('cli-scanned');
    const asOf = new Date(Date.now() + 91 * 86_400_000).toISOString();
    const args = ['scan', '--as-of', asOf, '--unused-days', '365', '--state-machine-arn', machine];

    const json = await keyrot(...args, '--format', 'json');
    const first = await keyrot(...args, '--start');
    const second = await keyrot(...args, '--start');

    assert.equal(json.code, 3, json.stderr);
    const users = JSON.parse(json.stdout) as { user: string; verdict: string; account: string }[];
    assert.equal(users.find((user) => user.user === 'cli-scanned')?.verdict, 'DUE');
    assert.equal(users.find((user) => user.user === 'keyrot-operator')?.verdict, 'EXEMPT');
    const due = users.filter((user) => user.verdict === 'DUE').length;
    assert.match(first.stdout, new RegExp(`${due} DUE`));
    assert.equal((first.stderr.match(/keyrot: started: /g) ?? []).length, due);
    assert.equal((second.stderr.match(/keyrot: started: /g) ?? []).length, 0);
    assert.equal((second.stderr.match(/already started in this window/g) ?? []).length, due);
  });
});
