import { flat, Unconvertible, type Cond, type Path } from './detection.js';

// Sigma's condition expression -> one connaudit condition tree.
//   expr    := and-expr ('or' and-expr)*
//   and-expr:= not-expr ('and' not-expr)*
//   not-expr:= 'not' not-expr | '(' expr ')' | quant | identifier
//   quant   := ('1' | 'all') 'of' (pattern | 'them')
// Precedence is not > and > or, as in the Sigma rules specification. A
// pattern may end in `*` (`1 of selection_*`). The deprecated aggregation
// pipe (`| count() > 5`) is refused with a pointer to correlation rules.

export function convertCondition(text: string, selections: ReadonlyMap<string, Cond>, path: Path): Cond {
  if (text.includes('|')) throw new Unconvertible('aggregation expressions (`| count() ...`) are deprecated in Sigma; write a correlation rule (event_count, value_count) instead', path);
  const toks = text.match(/\(|\)|[^\s()]+/g) ?? [];
  let i = 0;
  const peek = (): string | undefined => toks[i]?.toLowerCase();
  const fail = (msg: string): never => {
    throw new Unconvertible(`condition '${text}': ${msg}`, path);
  };
  const ident = (name: string): Cond => {
    const c = selections.get(name);
    if (c === undefined) fail(`unknown search identifier '${name}'`);
    return c!;
  };
  const matching = (pattern: string): Cond[] => {
    if (pattern.toLowerCase() === 'them') return [...selections.values()];
    const re = new RegExp(`^${pattern.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*')}$`);
    const hits = [...selections.entries()].filter(([k]) => re.test(k)).map(([, v]) => v);
    if (hits.length === 0) fail(`'${pattern}' matches no search identifier`);
    return hits;
  };
  const primary = (): Cond => {
    const t = peek();
    if (t === undefined) return fail('ends too early');
    if (t === 'not') {
      i++;
      return { not: primary() };
    }
    if (t === '(') {
      i++;
      const e = orExpr();
      if (peek() !== ')') fail('a ( is not closed');
      i++;
      return e;
    }
    if ((t === '1' || t === 'all' || t === 'any') && toks[i + 1]?.toLowerCase() === 'of') {
      const target = toks[i + 2];
      if (!target || target === '(' || target === ')') fail(`'${t} of' needs an identifier pattern or 'them'`);
      i += 3;
      return flat(t === 'all' ? 'and' : 'or', matching(target!));
    }
    if (/^\d+$/.test(t) && toks[i + 1]?.toLowerCase() === 'of') fail(`'${t} of' is not supported: connaudit converts '1 of' and 'all of'`);
    if (['and', 'or', ')'].includes(t)) fail(`unexpected '${toks[i]}'`);
    i++;
    return ident(toks[i - 1]!);
  };
  const andExpr = (): Cond => {
    const kids = [primary()];
    while (peek() === 'and') {
      i++;
      kids.push(primary());
    }
    return flat('and', kids);
  };
  const orExpr = (): Cond => {
    const kids = [andExpr()];
    while (peek() === 'or') {
      i++;
      kids.push(andExpr());
    }
    return flat('or', kids);
  };
  const out = orExpr();
  if (i < toks.length) fail(`unexpected '${toks[i]}'`);
  return out;
}
