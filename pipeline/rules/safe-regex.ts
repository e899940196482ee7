// Rule regexes run on every document, so a pattern must not be able to hang
// the processor. JavaScript's RegExp backtracks; catastrophic backtracking
// needs a backreference, a lookaround, a quantified group that itself holds a
// quantifier ("(a+)+") or a quantified alternation ("(a|ab)*"). Those are
// rejected at load time, and the input is cut to MAX_REGEX_INPUT characters,
// so the remaining worst case is polynomial in a bounded length.
// Background: https://www.regular-expressions.info/catastrophic.html

export const MAX_REGEX_INPUT = 512;
export const MAX_PATTERN_LENGTH = 256;
const MAX_QUANTIFIERS = 8;

/** Returns why the pattern is unsafe, or null when it may be compiled. */
export function unsafeRegexReason(pattern: string): string | null {
  if (pattern.length > MAX_PATTERN_LENGTH) return `pattern is ${pattern.length} characters; the limit is ${MAX_PATTERN_LENGTH}`;
  try {
    new RegExp(pattern, 'u');
  } catch (err) {
    return `not a valid regular expression: ${(err as Error).message}`;
  }
  // One frame per open group: does it hold a quantifier or an alternation?
  const stack: Array<{ quantified: boolean; alternation: boolean }> = [{ quantified: false, alternation: false }];
  let quantifiers = 0;
  let lastClosed: { quantified: boolean; alternation: boolean } | null = null;
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    const top = stack[stack.length - 1]!;
    if (c === '\\') {
      const n = pattern[i + 1] ?? '';
      if (/[1-9]/.test(n) || (n === 'k' && pattern[i + 2] === '<')) return 'backreferences are not allowed (they need backtracking)';
      i++;
      lastClosed = null;
      continue;
    }
    if (c === '[') {
      // Skip the character class; a ']' right after '[' or '[^' is literal.
      let j = i + 1;
      if (pattern[j] === '^') j++;
      if (pattern[j] === ']') j++;
      while (j < pattern.length && pattern[j] !== ']') j += pattern[j] === '\\' ? 2 : 1;
      i = j;
      lastClosed = null;
      continue;
    }
    if (c === '(') {
      if (pattern.startsWith('(?=', i) || pattern.startsWith('(?!', i) || pattern.startsWith('(?<=', i) || pattern.startsWith('(?<!', i)) {
        return 'lookaround assertions are not allowed';
      }
      stack.push({ quantified: false, alternation: false });
      lastClosed = null;
      continue;
    }
    if (c === ')') {
      lastClosed = stack.pop() ?? null;
      continue;
    }
    if (c === '|') {
      top.alternation = true;
      lastClosed = null;
      continue;
    }
    const isQuant = c === '*' || c === '+' || (c === '?' && !/[*+?}]/.test(pattern[i - 1] ?? '')) || (c === '{' && /^\{\d+(,\d*)?\}/.test(pattern.slice(i)));
    if (isQuant) {
      quantifiers++;
      if (quantifiers > MAX_QUANTIFIERS) return `more than ${MAX_QUANTIFIERS} quantifiers`;
      if (lastClosed?.quantified) return 'nested quantifiers (a quantified group that contains a quantifier) are not allowed';
      if (lastClosed?.alternation) return 'a quantified alternation like (a|b)* is not allowed; use a character class [ab]* instead';
      for (const f of stack) f.quantified = true;
      if (lastClosed) lastClosed = null;
      if (c === '{') i = pattern.indexOf('}', i);
      continue;
    }
    lastClosed = null;
  }
  return null;
}
