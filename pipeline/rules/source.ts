import { isMap, isPair, isScalar, LineCounter, parseDocument, type Document, type Node } from 'yaml';

// One parsed rule file with the means to turn a path inside it (from ajv's
// instancePath or from the compiler) back into a line and column.

export type Path = Array<string | number>;

export interface Position {
  line: number;
  col: number;
}

export class RuleSource {
  readonly doc: Document;
  private readonly lines = new LineCounter();

  constructor(readonly file: string, text: string) {
    this.doc = parseDocument(text, { lineCounter: this.lines, prettyErrors: false, uniqueKeys: true });
  }

  /** YAML syntax errors, with the position the parser reported. */
  syntaxErrors(): Array<Position & { message: string }> {
    return this.doc.errors.map((e) => {
      const lp = e.linePos?.[0] ?? this.lines.linePos(e.pos[0]);
      return { line: lp.line, col: lp.col, message: e.message.split('\n')[0]! };
    });
  }

  private at(offset: number | undefined): Position {
    if (offset === undefined) return { line: 1, col: 1 };
    const lp = this.lines.linePos(offset);
    return { line: lp.line, col: lp.col };
  }

  /**
   * The position of the node at `path`. With `key`, the position of that key
   * inside the mapping at `path` (for "unknown key" errors). A path that does
   * not exist (a missing key) falls back to its nearest existing parent.
   */
  position(path: Path, key?: string): Position {
    for (let n = path.length; n >= 0; n--) {
      const node = (n === 0 ? this.doc.contents : this.doc.getIn(path.slice(0, n), true)) as Node | undefined | null;
      if (!node || typeof node !== 'object') continue;
      if (key !== undefined && n === path.length && isMap(node)) {
        const pair = node.items.find((p) => isPair(p) && isScalar(p.key) && String(p.key.value) === key);
        if (pair && isScalar(pair.key)) return this.at(pair.key.range?.[0]);
      }
      return this.at(node.range?.[0]);
    }
    return { line: 1, col: 1 };
  }
}

/** "/0/condition/and/1" -> [0, "condition", "and", 1] */
export function pointerToPath(pointer: string): Path {
  return pointer
    .split('/')
    .slice(1)
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
    .map((s) => (/^\d+$/.test(s) ? Number(s) : s));
}
