import { printable } from '../shared/printable';

// RFC 9110 §8.3.1: type "/" subtype *( OWS ";" OWS [ parameter ] ), a parameter being
// token "=" ( token / quoted-string ).
const TOKEN = "[!#$%&'*+.^_`|~0-9A-Za-z-]+";
const QUOTED = '"(?:[\\t \\x21\\x23-\\x5b\\x5d-\\x7e\\x80-\\xff]|\\\\[\\t \\x20-\\x7e\\x80-\\xff])*"';
const MEDIA_TYPE = new RegExp(`^(${TOKEN}/${TOKEN})((?:[ \\t]*;[ \\t]*(?:${TOKEN}=(?:${TOKEN}|${QUOTED}))?)*)[ \\t]*$`);
const SHOWN_MAX = 80;

/** The one encoding the approval and password forms accept. */
export const FORM = 'application/x-www-form-urlencoded';

/**
 * The media type a Content-Type header names, as HTTP reads it: `type/subtype` in lower case
 * (both are case-insensitive), its parameters allowed and set aside; undefined when the header
 * is missing or is not a media type.
 */
export function mediaType(header: string | undefined): string | undefined {
  return MEDIA_TYPE.exec((header ?? '').trim())?.[1]?.toLowerCase();
}

/**
 * Undefined when the Content-Type names `expected`; otherwise the 415 message, which says what
 * to send and what was sent (escaped and bounded: the header is the client's text).
 */
export function unsupportedMediaType(header: string | undefined, expected: string, what: string): string | undefined {
  if (mediaType(header) === expected) return undefined;
  const sent = (header ?? '').trim();
  const shown = sent.length > SHOWN_MAX ? `${sent.slice(0, SHOWN_MAX)}…` : sent;
  return `Send the ${what} as ${expected}; this request ${sent ? `has Content-Type "${printable(shown)}"` : 'has no Content-Type'}.`;
}
