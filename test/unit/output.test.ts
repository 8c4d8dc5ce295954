import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { printable } from '../../cli/output';

describe('printable', () => {
  it('shows terminal escapes, C1 controls, bidi and invisible characters escaped, and leaves other text alone', () => {
    const hostile = 'a\u001b]0;pwned\u0007\u001b[2J\u0000\u009b\u202egnp.exe\u200b\ufeff\nb';

    const shown = printable(hostile);

    assert.equal(shown, 'a\\u{1b}]0;pwned\\u{7}\\u{1b}[2J\\u{0}\\u{9b}\\u{202e}gnp.exe\\u{200b}\\u{feff}\\u{a}b');
    assert.equal(printable('Quinn Avery (QA Lead) — ü, 東京'), 'Quinn Avery (QA Lead) — ü, 東京');
  });
});
