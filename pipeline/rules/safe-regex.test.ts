import { describe, expect, it } from 'vitest';
import { unsafeRegexReason } from './safe-regex.js';

describe('regex safety check', () => {
  it.each(['^curl$', '[a-z]+\\.example\\.com$', '^(ssh|scp)$', 'a{2,5}b', '(ab)+c', '[(+*)]+'])('accepts %s', (p) => {
    expect(unsafeRegexReason(p)).toBeNull();
  });
  it.each([
    ['(a+)+$', 'nested quantifiers'],
    ['(x*)*y', 'nested quantifiers'],
    ['(a|ab)*c', 'quantified alternation'],
    ['(\\w)\\1', 'backreferences'],
    ['foo(?=bar)', 'lookaround'],
    ['(?<!x)y', 'lookaround'],
    ['a'.repeat(300), 'limit is 256'],
    ['(unclosed', 'not a valid regular expression'],
  ])('rejects %s', (p, why) => {
    expect(unsafeRegexReason(p)).toContain(why);
  });
});
