import assert from 'node:assert/strict';
import { describe, it } from '@jest/globals';
import { htmlText, jsonText, printable } from '../../handlers/shared/printable';

describe('printable', () => {
  it('shows terminal escapes, C1 controls, bidi and invisible characters escaped, and leaves other text alone', () => {
    const hostile = 'a\u001b]0;pwned\u0007\u001b[2J\u0000\u009b\u007f\u202egnp.exe\u200b\ufeff\u00ad\u{e0041}\u2028\nb';

    const shown = printable(hostile);

    assert.equal(
      shown,
      'a\\u001b]0;pwned\\u0007\\u001b[2J\\u0000\\u009b\\u007f\\u202egnp.exe\\u200b\\ufeff\\u00ad\\u{e0041}\\u2028\\u000ab',
    );
    assert.equal(printable(shown), shown, 'escaping twice reads the same');
    assert.equal(printable('Quinn Avery (QA Lead) — ü, 東京'), 'Quinn Avery (QA Lead) — ü, 東京');
  });

  it('escapes every bidi control, zero-width and tag character, one by one', () => {
    const hidden = [
      ...'\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c',
      ...'\u200b\u200c\u200d\u2060\u2061\u2062\u2063\u2064\ufeff\u00ad\u034f\u115f\u3164',
      ...[0xe0001, 0xe0020, 0xe0041, 0xe007f].map((point) => String.fromCodePoint(point)),
    ];
    for (const char of hidden) assert.match(printable(`x${char}y`), /^x\\u(?:[0-9a-f]{4}|\{[0-9a-f]{5}\})y$/);
  });

  it('keeps JSON values exact while its text holds no hidden character', () => {
    const value = { reason: 'ok\u202e\u009b\u{e0041}\u2028\u001b\nend' };

    const text = jsonText(value, 2);

    assert.deepEqual(JSON.parse(text), value);
    assert.doesNotMatch(text.replace(/\n {0,2}/g, ''), /[^\x20-\x7e]/);
    assert.match(text, /\\u202e\\u009b\\udb40\\udc41\\u2028\\u001b\\nend/);
  });

  it('writes markup as entities after escaping hidden characters', () => {
    assert.equal(htmlText('<img src=x onerror="a\u202e">&'), '&lt;img src=x onerror=&quot;a\\u202e&quot;&gt;&amp;');
  });
});
