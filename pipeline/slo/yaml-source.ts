import { isMap, isSeq, LineCounter, parseDocument, type Document } from 'yaml';

// Validation errors must point at file:line:col. ajv reports a JSON pointer
// into the parsed value; this walks the same pointer through the YAML node
// tree, whose ranges carry byte offsets that the LineCounter turns into lines.

export interface YamlSource {
  doc: Document.Parsed;
  value: unknown;
  /** "line:col" of the node at a JSON pointer (or of its nearest existing parent). */
  position(pointer: string, atKey?: boolean): string;
}

export function parseYamlSource(text: string, file: string): YamlSource {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false });
  if (doc.errors.length > 0) {
    const e = doc.errors[0]!;
    const p = lineCounter.linePos(e.pos[0]);
    throw new CatalogueError(`${file}:${p.line}:${p.col}: ${e.message.split('\n')[0]}`);
  }
  const value = doc.toJS() as unknown;
  return {
    doc,
    value,
    position(pointer: string, atKey = false): string {
      const parts = pointer.split('/').slice(1).map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
      let node: unknown = doc.contents;
      let offset = (doc.contents as { range?: [number, number, number] } | null)?.range?.[0] ?? 0;
      for (const [i, part] of parts.entries()) {
        let next: unknown;
        if (isMap(node)) {
          const pair = node.items.find((it) => String((it.key as { value?: unknown } | null)?.value ?? it.key) === part);
          next = pair?.value;
          const keyRange = (pair?.key as { range?: [number, number, number] } | undefined)?.range;
          // An unknown field is reported at its name, not at its value.
          if (keyRange && atKey && i === parts.length - 1) {
            offset = keyRange[0];
            break;
          }
          if (pair && !(next as { range?: unknown } | null)?.range && keyRange) offset = keyRange[0];
        } else if (isSeq(node)) {
          next = node.items[Number(part)];
        }
        const range = (next as { range?: [number, number, number] } | undefined)?.range;
        if (!range) break;
        offset = range[0];
        node = next;
      }
      const p = lineCounter.linePos(offset);
      return `${p.line}:${p.col}`;
    },
  };
}

export class CatalogueError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CatalogueError';
  }
}
