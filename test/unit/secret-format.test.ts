import assert from 'node:assert/strict';
import { describe, it } from '@jest/globals';
import { formatSecret, isProblem, parseSecret, SECRET_FORMATS } from '../../handlers/domain/secret-format';

const ID = 'AKIAIOSFODNN7EXAMPLE';
const SECRET = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';

describe('parseSecret', () => {
  for (const [format, [idField, secretField]] of Object.entries(SECRET_FORMATS)) {
    it(`reads the ${format} shape {"${idField}","${secretField}"} and names it`, () => {
      const parsed = parseSecret(JSON.stringify({ [idField]: ID, [secretField]: SECRET, region: 'eu-west-1' }));

      assert.ok(!isProblem(parsed));
      assert.equal(parsed.format, format);
      assert.equal(parsed.accessKeyId, ID);
      assert.equal(parsed.fields.region, 'eu-west-1');
    });
  }

  it('calls a plain string a problem without quoting it', () => {
    const parsed = parseSecret(`${ID}:${SECRET}`);

    assert.ok(isProblem(parsed));
    assert.match(parsed.problem, /plain string/);
    assert.equal(parsed.problem.includes(SECRET), false);
  });

  it('calls JSON in no known shape a problem that names its fields, not their values', () => {
    const parsed = parseSecret(JSON.stringify({ user: ID, password: SECRET }));

    assert.ok(isProblem(parsed));
    assert.match(parsed.problem, /no known key shape \(fields: user, password\)/);
    assert.equal(parsed.problem.includes(SECRET), false);
  });

  it('withholds a field name that could itself be a secret access key', () => {
    const parsed = parseSecret(JSON.stringify({ [SECRET]: ID }));

    assert.ok(isProblem(parsed));
    assert.equal(parsed.problem.includes(SECRET), false);
    assert.match(parsed.problem, /\(withheld\)/);
  });

  it('refuses two shapes at once unless a format is given', () => {
    const text = JSON.stringify({
      accessKeyId: ID,
      secretAccessKey: SECRET,
      AWS_ACCESS_KEY_ID: ID,
      AWS_SECRET_ACCESS_KEY: SECRET,
    });

    const guessed = parseSecret(text);
    const given = parseSecret(text, 'env');

    assert.ok(isProblem(guessed));
    assert.match(guessed.problem, /more than one key shape/);
    assert.ok(!isProblem(given));
    assert.equal(given.format, 'env');
  });

  it('refuses an id that is not an access key id, and a JSON array', () => {
    assert.ok(isProblem(parseSecret(JSON.stringify({ accessKeyId: 'nope', secretAccessKey: SECRET }))));
    assert.ok(isProblem(parseSecret(JSON.stringify([ID, SECRET]))));
  });
});

describe('formatSecret', () => {
  it('writes the new key in the given shape and keeps every other field', () => {
    const text = formatSecret(
      'env',
      { accessKeyId: ID, secretAccessKey: SECRET },
      {
        AWS_ACCESS_KEY_ID: 'AKIAOLDOLDOLDOLDOLD1',
        AWS_SECRET_ACCESS_KEY: 'old',
        AWS_REGION: 'eu-west-1',
      },
    );

    assert.deepEqual(JSON.parse(text), {
      AWS_ACCESS_KEY_ID: ID,
      AWS_SECRET_ACCESS_KEY: SECRET,
      AWS_REGION: 'eu-west-1',
    });
  });

  it('round-trips through parseSecret in every shape', () => {
    for (const format of Object.keys(SECRET_FORMATS) as (keyof typeof SECRET_FORMATS)[]) {
      const parsed = parseSecret(formatSecret(format, { accessKeyId: ID, secretAccessKey: SECRET }));
      assert.ok(!isProblem(parsed));
      assert.equal(parsed.format, format);
      assert.equal(parsed.secretAccessKey, SECRET);
    }
  });
});
