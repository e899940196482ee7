import { readFileSync } from 'node:fs';
import AjvModule, { type ErrorObject, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';
import { isMap, isPair, isScalar, isSeq, LineCounter, parseDocument, type Document, type Node } from 'yaml';
import { ConfigError, type Problem } from './errors.js';
import { fromRoot } from './paths.js';

// The one way connaudit reads a YAML file that a person wrote: the agent and
// pipeline configs, the service catalogue and the rule files. ajv reports a
// JSON pointer into the parsed value; the same pointer is walked through the
// YAML node tree, whose ranges carry offsets that a LineCounter turns into
// line:col. So every problem is printed as file:line:col: field: message.

export type Path = Array<string | number>;

export interface Position {
  line: number;
  col: number;
}

export class YamlFile {
  readonly doc: Document.Parsed;
  private readonly lines = new LineCounter();

  constructor(readonly file: string, text: string) {
    this.doc = parseDocument(text, { lineCounter: this.lines, prettyErrors: false, uniqueKeys: true });
  }

  /** YAML syntax problems (duplicate keys included). */
  syntaxProblems(): Problem[] {
    return this.doc.errors.map((e) => {
      const lp = e.linePos?.[0] ?? this.lines.linePos(e.pos[0]);
      return { file: this.file, line: lp.line, col: lp.col, message: `not valid YAML: ${e.message.split('\n')[0]!}` };
    });
  }

  /** The parsed value (plain JS). */
  value(): unknown {
    return this.doc.toJS() as unknown;
  }

  /**
   * The position of the node at `path`. With `key`, the position of that key
   * inside the mapping at `path` (for "unknown key" problems). A path that
   * does not exist (a missing key) falls back to its nearest existing parent.
   */
  position(path: Path, key?: string): Position {
    for (let n = path.length; n >= 0; n--) {
      const node = (n === 0 ? this.doc.contents : this.doc.getIn(path.slice(0, n), true)) as Node | undefined | null;
      if (!node || typeof node !== 'object') continue;
      if (key !== undefined && n === path.length && isMap(node)) {
        const pair = node.items.find((p) => isPair(p) && isScalar(p.key) && String(p.key.value) === key);
        if (pair && isScalar(pair.key)) return this.at(pair.key.range?.[0]);
      }
      if (!isMap(node) && !isSeq(node) && !isScalar(node) && n > 0) continue;
      return this.at(node.range?.[0]);
    }
    return { line: 1, col: 1 };
  }

  /** A located problem at `path` (or at `key` inside it). */
  problem(path: Path, message: string, key?: string): Problem {
    const field = [...path, ...(key !== undefined ? [key] : [])].join('.');
    return { file: this.file, ...this.position(path, key), field: field || undefined, message };
  }

  private at(offset: number | undefined): Position {
    if (offset === undefined) return { line: 1, col: 1 };
    const lp = this.lines.linePos(offset);
    return { line: lp.line, col: lp.col };
  }
}

/** "/0/condition/and/1" -> [0, "condition", "and", 1] */
export function pointerToPath(pointer: string): Path {
  if (!pointer) return [];
  return pointer
    .split('/')
    .slice(1)
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
    .map((s) => (/^\d+$/.test(s) ? Number(s) : s));
}

const Ajv = AjvModule.default ?? AjvModule;
// ajv-formats is CJS; under NodeNext its default export arrives wrapped.
const addFormats = ((addFormatsModule as unknown as { default?: unknown }).default ?? addFormatsModule) as (a: InstanceType<typeof Ajv>) => void;
const compiled = new Map<string, ValidateFunction>();

/** The compiled validator of a schema under schemas/, compiled once per process. */
export function schemaValidator(schemaFile: string): ValidateFunction {
  let v = compiled.get(schemaFile);
  if (!v) {
    const schema = JSON.parse(readFileSync(fromRoot('schemas', schemaFile), 'utf8')) as object;
    const ajv = new Ajv({ allErrors: true, strict: false, verbose: true, allowUnionTypes: true });
    addFormats(ajv);
    v = ajv.compile(schema);
    compiled.set(schemaFile, v);
  }
  return v;
}

function describe(e: ErrorObject): string {
  const params = e.params as Record<string, unknown>;
  switch (e.keyword) {
    case 'additionalProperties': {
      const allowed = Object.keys((e.parentSchema as { properties?: object } | undefined)?.properties ?? {});
      return `unknown key${allowed.length ? ` (allowed: ${allowed.join(', ')})` : ''}`;
    }
    case 'enum':
      return `must be one of ${(params.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ')}`;
    case 'required':
      return `missing required key '${String(params.missingProperty)}'`;
    default:
      return e.message ?? e.keyword;
  }
}

/**
 * ajv errors as located problems. ajv with allErrors also reports every
 * failed branch of a oneOf/anyOf; the branch failures under a reported
 * oneOf/anyOf are kept (they say what was wrong), the umbrella line is not.
 */
export function schemaProblems(src: YamlFile, errors: ErrorObject[]): Problem[] {
  const out: Problem[] = [];
  const seen = new Set<string>();
  for (const e of errors) {
    if ((e.keyword === 'oneOf' || e.keyword === 'anyOf') && errors.length > 1) continue;
    const path = pointerToPath(e.instancePath);
    const extra = (e.params as { additionalProperty?: string }).additionalProperty ?? e.propertyName;
    const p = src.problem(path, describe(e), extra);
    const k = `${p.line}:${p.col}:${p.message}`;
    if (seen.has(k)) continue;
    seen.add(k);
    out.push(p);
  }
  return out;
}

/** Parses and schema-checks YAML text; problems are returned, not thrown. */
export function checkYaml(text: string, file: string, schemaFile: string): { src: YamlFile; value: unknown; problems: Problem[] } {
  const src = new YamlFile(file, text);
  const syntax = src.syntaxProblems();
  if (syntax.length > 0) return { src, value: undefined, problems: syntax };
  const value = src.value() ?? {};
  const validate = schemaValidator(schemaFile);
  const problems = validate(value) ? [] : schemaProblems(src, validate.errors ?? []);
  return { src, value, problems };
}

/** Parses and schema-checks YAML text, throwing one ConfigError with every problem. */
export function parseYamlConfig<T>(text: string, file: string, schemaFile: string, hint?: string): { src: YamlFile; value: T } {
  const { src, value, problems } = checkYaml(text, file, schemaFile);
  if (problems.length > 0) throw new ConfigError(problems, hint ?? `fix the file against schemas/${schemaFile}`);
  return { src, value: value as T };
}

/** Reads, parses and schema-checks a YAML file. */
export function loadYamlConfig<T>(file: string, schemaFile: string, hint?: string): { src: YamlFile; value: T } {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw ConfigError.at({ file }, `cannot read the file (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, 'check the path and its permissions');
  }
  return parseYamlConfig<T>(text, file, schemaFile, hint);
}
