import { RE2JS } from 're2js';

// Rule regexes run on every document, so no pattern may be able to hang the
// processor. JavaScript's RegExp backtracks, and no heuristic over the pattern
// text catches every catastrophic case (\w*\w*\w*...! slipped past one). RE2
// semantics (re2js, pure JS) run in time linear in the input whatever the
// pattern, at the price of refusing what needs backtracking: backreferences
// and lookaround. Those are refused when the rule loads, with the reason.
// Background: https://github.com/google/re2/wiki/Syntax

export const MAX_PATTERN_LENGTH = 1024;

export interface SafeRegex {
  test(input: string): boolean;
}

/** What RE2 refuses, said in the author's terms; the parser's text follows after a colon. */
function explain(message: string): string {
  if (/invalid escape sequence: `\\[1-9k]/.test(message)) return 'backreferences (\\1, \\k<name>) are not supported: RE2 semantics match in linear time and cannot express them';
  if (/Perl syntax: `\(\?[=!]|named capture: `\(\?<[=!]/.test(message)) return 'lookaround assertions ((?=, (?!, (?<=, (?<!) are not supported: RE2 semantics match in linear time and cannot express them';
  return `not a valid RE2 regular expression: ${message.replace(/^error parsing regexp: /, '')}`;
}

/** The compiled pattern, or why it cannot be used. */
export function compileRegex(pattern: string): SafeRegex | { error: string } {
  if (pattern.length > MAX_PATTERN_LENGTH) return { error: `pattern is ${pattern.length} characters; the limit is ${MAX_PATTERN_LENGTH}` };
  try {
    const re = RE2JS.compile(pattern);
    return { test: (s) => re.test(s) };
  } catch (err) {
    return { error: explain((err as Error).message) };
  }
}

/** Returns why the pattern cannot be compiled, or null when it can. */
export function unsafeRegexReason(pattern: string): string | null {
  const r = compileRegex(pattern);
  return 'error' in r ? r.error : null;
}
