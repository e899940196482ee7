import { readFileSync } from 'node:fs';
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';
import { fromRoot } from '../../lib/paths.js';

// schemas/rules.schema.json is the contract for rule files (editors can use it
// too). It is compiled once per process: the loader, `rules validate` and the
// all-rules test share this validator.

/** Resolves schemas/ whether we run from source (vitest) or from dist/. */
export function rulesSchemaPath(): string {
  return fromRoot('schemas/rules.schema.json');
}

let compiled: ValidateFunction | undefined;

export function rulesValidator(): ValidateFunction {
  if (compiled) return compiled;
  const ajv = new Ajv({ allErrors: true, allowUnionTypes: true, strict: true, strictRequired: false });
  // ajv-formats is CJS; under NodeNext its default export arrives wrapped.
  const addFormats = ((addFormatsModule as unknown as { default?: typeof addFormatsModule }).default ?? addFormatsModule) as unknown as (a: Ajv) => void;
  addFormats(ajv);
  compiled = ajv.compile(JSON.parse(readFileSync(rulesSchemaPath(), 'utf8')) as object);
  return compiled;
}

/** ajv's message, rewritten to name the key the author has to touch. */
export function schemaMessage(e: ErrorObject): string {
  const p = e.params as Record<string, unknown>;
  const last = e.instancePath.split('/').slice(-1)[0] ?? '';
  const at = /^\d*$/.test(last) ? undefined : last;
  const where = at ? `'${at}' ` : '';
  switch (e.keyword) {
    case 'additionalProperties': return `unknown key '${String(p.additionalProperty)}'${at ? ` in '${at}'` : ''}`;
    case 'required': return `missing required key '${String(p.missingProperty)}'${at ? ` in '${at}'` : ''}`;
    case 'enum': return `${where}must be one of ${(p.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ')}`;
    case 'format': return `${where}must be a ${String(p.format)}${p.format === 'uuid' ? ' (generate one with: node -e "console.log(crypto.randomUUID())")' : ''}`;
    case 'pattern': return `${where}must match ${String(p.pattern)}`;
    default: return `${where}${e.message ?? 'is invalid'}`;
  }
}

/** if/then wrappers repeat the inner error as "must match then schema"; drop those. */
export function usefulErrors(errors: ErrorObject[] | null | undefined): ErrorObject[] {
  const seen = new Set<string>();
  const out: ErrorObject[] = [];
  for (const e of errors ?? []) {
    if (e.keyword === 'if') continue;
    const key = `${e.instancePath}|${schemaMessage(e)}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(e);
  }
  return out;
}
