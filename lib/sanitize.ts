// Display fields (process names, executables, host and container names) come
// from the observed host, so a hostile process chooses them. Control
// characters can rewrite a terminal (ANSI escapes) or cut a string short (NUL);
// bidi and invisible format characters reorder or hide text, so that
// "gnp.exe" with U+202E shows as "exe.png" (Unicode TR#36, "Bidirectional
// Text Spoofing"). We escape them so every character shows, and the caller
// keeps the original in a flagged field.

// C0 and C1 controls, DEL, the Arabic letter mark, zero-width and bidi marks,
// line/paragraph separators, bidi embeddings/overrides/isolates, the BOM and
// interlinear annotation characters.
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb]/g;
const UNSAFE_TEST = new RegExp(UNSAFE.source);

const escapeChar = (c: string): string => {
  const code = c.charCodeAt(0);
  return code < 0x100 ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
};

/** The text with every unsafe character written as \xNN or \uNNNN; the same string when there is none. */
export function escapeDisplay(text: string): string {
  return UNSAFE_TEST.test(text) ? text.replace(UNSAFE, escapeChar) : text;
}
