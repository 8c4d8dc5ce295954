/**
 * The characters no output of keyrot writes raw, whatever wrote them (an approver's reason or
 * printed name, a requester, an error's cause, a name read from AWS):
 * - control characters: C0 (newline and tab included, so free text cannot start a line), DEL, C1;
 * - format characters (Cf): the bidi embeddings, overrides, isolates and marks (U+202A–202E,
 *   U+2066–2069, U+200E/200F, U+061C), zero-width space and joiners (U+200B–200D), word joiner
 *   and invisible operators (U+2060–2064), byte-order mark U+FEFF, soft hyphen U+00AD, the tag
 *   characters U+E0000–E007F;
 * - every other default-ignorable code point (Hangul fillers, variation selectors, U+034F...),
 *   which a terminal or browser draws as nothing;
 * - line and paragraph separators (U+2028/2029) and lone surrogates.
 */
const HIDDEN = /[\p{Cc}\p{Cf}\p{Cs}\p{Zl}\p{Zp}\p{Default_Ignorable_Code_Point}]/gu;

/** The same set less C0 (JSON.stringify already escapes C0, and its own layout uses newlines). */
const HIDDEN_IN_JSON = /[\u007f-\u009f\p{Cf}\p{Cs}\p{Zl}\p{Zp}\p{Default_Ignorable_Code_Point}]/gu;

const hex4 = (unit: number) => `\\u${unit.toString(16).padStart(4, '0')}`;

/**
 * Text as it is safe to show anywhere (terminal, Markdown, CSV, HTML): every hidden character
 * written as its escape, `\u001b` in the Basic Multilingual Plane and `\u{e0041}` above it.
 * Everything else is kept, so `printable(printable(x)) === printable(x)`: a value escaped twice
 * reads the same. A backslash is kept as is: typing `\u202e` shows the same six characters as
 * the override itself would, and neither can reorder or hide anything.
 */
export function printable(text: string): string {
  return text.replace(HIDDEN, (char) => {
    const point = char.codePointAt(0) ?? 0;
    return point > 0xffff ? `\\u{${point.toString(16)}}` : hex4(point);
  });
}

/**
 * JSON whose text holds no hidden character: the values are kept exactly (a program parses
 * what was recorded) and every hidden character in a string is written as its JSON escape
 * (`\u202e`, a surrogate pair for `\udb40\udc41`), so the document itself cannot drive a
 * terminal or reorder a viewer. A program that then shows a parsed value must use printable().
 */
export function jsonText(value: unknown, space?: number): string {
  const text = JSON.stringify(value, null, space) ?? 'null';
  return text.replace(HIDDEN_IN_JSON, (char) =>
    Array.from({ length: char.length }, (_, i) => hex4(char.charCodeAt(i))).join(''),
  );
}

const ENTITIES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** Text for an HTML (or SVG) element or quoted attribute: printable(), then markup as entities. */
export function htmlText(text: string): string {
  return printable(text).replace(/[&<>"']/g, (char) => ENTITIES[char] ?? char);
}
