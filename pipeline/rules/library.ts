import { readFileSync } from 'node:fs';
import { rulesValidator, schemaMessage, usefulErrors } from './schema.js';
import { pointerToPath, YamlFile, type Path } from '../../lib/config-file.js';
import type { Raw } from './rule-type.js';
import type { RuleError } from './types.js';

// Pass one of loading: read every file of every layer in order and collect
// lists, macros, rules and tuning entries, each with where it came from. The
// order is what gives layered sources their meaning (see rules/README.md,
// "Layered rule folders"): a later list or macro of the same name replaces the
// earlier one, `append: true` extends it, and a tuning entry changes a rule
// loaded before it.

export interface Entry {
  src: YamlFile;
  index: number;
  raw: Raw;
  /** Position in the whole load order (all layers): a tuning entry only reaches rules before it. */
  seq: number;
  /** Which layer (rule folder or file named by the user, in order) the entry came from. */
  layer: number;
}

export interface Library {
  files: string[];
  lists: Map<string, unknown[]>;
  /** Macro name -> its definitions in load order; the last without `append` starts the chain that counts. */
  macros: Map<string, Entry[]>;
  rules: Entry[];
  tunes: Entry[];
  errors: RuleError[];
}

/** The author-facing name of an entry, for error lines. */
export function entryLabel(raw: Raw): { ruleId: string; ruleName: string } {
  const ruleId = typeof raw.id === 'string' ? raw.id : '';
  const ruleName = typeof raw.rule === 'string' ? raw.rule : typeof raw.macro === 'string' ? `macro ${raw.macro}` : typeof raw.list === 'string' ? `list ${raw.list}` : '';
  return { ruleId, ruleName };
}

export function errorAt(e: { src: YamlFile; raw?: Raw }, path: Path, message: string, key?: string): RuleError {
  const pos = e.src.position(path, key);
  return { file: e.src.file, line: pos.line, col: pos.col, ...entryLabel(e.raw ?? {}), message };
}

/** A rule entry that tunes an earlier rule (Falco's `override:`), rather than defining one. */
export const isTune = (raw: Raw): boolean => typeof raw.rule === 'string' && raw.id === undefined && (raw.override !== undefined || raw.enabled !== undefined);

export function readLibrary(layered: Array<{ file: string; layer: number }>): Library {
  const files = layered.map((f) => f.file);
  const lib: Library = { files, lists: new Map(), macros: new Map(), rules: [], tunes: [], errors: [] };
  const validate = rulesValidator();
  let seq = 0;
  for (const { file, layer } of layered) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      lib.errors.push({ file, line: 1, col: 1, ruleId: '', ruleName: '', message: `cannot read: ${(err as Error).message}` });
      continue;
    }
    const src = new YamlFile(file, text);
    const syntax = src.syntaxProblems();
    if (syntax.length > 0) {
      for (const s of syntax) lib.errors.push({ file, line: s.line ?? 1, col: s.col ?? 1, ruleId: '', ruleName: '', message: s.message });
      continue;
    }
    const data = src.value();
    if (data === null || data === undefined) continue; // an empty file is allowed (a placeholder for overrides)
    const badEntries = new Set<number>();
    if (!validate(data)) {
      for (const e of usefulErrors(validate.errors, data)) {
        const path = pointerToPath(e.instancePath);
        const idx = typeof path[0] === 'number' ? path[0] : -1;
        badEntries.add(idx);
        const raw = Array.isArray(data) && idx >= 0 ? (data[idx] as Raw) : undefined;
        const key = e.keyword === 'additionalProperties' ? String((e.params as Raw).additionalProperty) : undefined;
        lib.errors.push(errorAt({ src, raw: raw && typeof raw === 'object' ? raw : {} }, path, schemaMessage(e, data), key));
      }
    }
    if (!Array.isArray(data) || badEntries.has(-1)) continue;
    data.forEach((raw: Raw, index) => {
      if (badEntries.has(index)) return;
      const entry: Entry = { src, index, raw, seq: seq++, layer };
      if (typeof raw.list === 'string') {
        const items = raw.items as unknown[];
        const prev = lib.lists.get(raw.list);
        if (raw.append === true && !prev) lib.errors.push(errorAt(entry, [index, 'list'], `'append: true' but no earlier list named '${raw.list}'`));
        lib.lists.set(raw.list, raw.append === true && prev ? [...prev, ...items] : [...items]);
      } else if (typeof raw.macro === 'string') {
        const prev = lib.macros.get(raw.macro);
        if (raw.append === true && !prev) lib.errors.push(errorAt(entry, [index, 'macro'], `'append: true' but no earlier macro named '${raw.macro}'`));
        lib.macros.set(raw.macro, raw.append === true && prev ? [...prev, entry] : [entry]);
      } else if (isTune(raw)) {
        lib.tunes.push(entry);
      } else {
        lib.rules.push(entry);
      }
    });
  }
  return lib;
}
