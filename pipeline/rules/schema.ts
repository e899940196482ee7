import { readFileSync } from 'node:fs';
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';
import { fromRoot } from '../../lib/paths.js';
import { ruleTypes } from './engines/registry.js';

// schemas/rules.schema.json is the contract for rule files (editors can use it
// too). Its `definitions.rule` is generated from the rule type modules
// (engines/registry.ts): the keys every rule has (`definitions.ruleCommon`)
// plus each type's own keys, one branch per type, so a key of another type is
// refused by name. `connaudit rules schema --write` refreshes the file and a
// unit test fails when it is stale. The validator compiles the generated form,
// so a stale file can never let a rule through. Compiled once per process.

type Json = Record<string, unknown>;

/** Resolves schemas/ whether we run from source (vitest) or from dist/. */
export function rulesSchemaPath(): string {
  return fromRoot('schemas/rules.schema.json');
}

/** The `definitions.rule` branch chain for the registered types. */
export function ruleDefinition(common: { properties: Json; required: string[] }): Json {
  const types = ruleTypes().map((m) => m.type);
  // additionalProperties only sees keys listed in the same object, so each
  // branch lists the common keys, as references to keep the file readable.
  const commonRefs = Object.fromEntries(Object.keys(common.properties).map((k) => [k, { $ref: `#/definitions/ruleCommon/properties/${k}` }]));
  let chain: Json = {
    type: 'object',
    required: [...common.required, 'type'],
    additionalProperties: false,
    properties: { ...commonRefs, type: { enum: types } },
  };
  for (const m of [...ruleTypes()].reverse()) {
    chain = {
      if: { type: 'object', required: ['type'], properties: { type: { const: m.type } } },
      then: {
        type: 'object',
        description: `${m.type}: ${m.summary}`,
        required: [...common.required, 'type', ...m.schema.required],
        additionalProperties: false,
        properties: { ...commonRefs, type: { const: m.type }, ...m.schema.properties },
      },
      else: chain,
    };
  }
  return chain;
}

/** The whole rule-file schema: the file on disk with `definitions.rule` generated from the type modules. */
export function buildRulesSchema(base: Json = JSON.parse(readFileSync(rulesSchemaPath(), 'utf8')) as Json): Json {
  const defs = base.definitions as Json;
  const common = defs.ruleCommon as { properties: Json; required: string[] };
  return { ...base, definitions: { ...defs, rule: ruleDefinition(common) } };
}

let compiled: ValidateFunction | undefined;

export function rulesValidator(): ValidateFunction {
  if (compiled) return compiled;
  const ajv = new Ajv({ allErrors: true, allowUnionTypes: true, strict: true, strictRequired: false });
  // ajv-formats is CJS; under NodeNext its default export arrives wrapped.
  const addFormats = ((addFormatsModule as unknown as { default?: typeof addFormatsModule }).default ?? addFormatsModule) as unknown as (a: Ajv) => void;
  addFormats(ajv);
  compiled = ajv.compile(buildRulesSchema());
  return compiled;
}

/** "window is a key of threshold, value_count rules": said when a rule uses another type's key. */
function otherTypesKey(key: string, entry: unknown): string | null {
  const type = (entry as Json | undefined)?.type;
  if (typeof type !== 'string' || !ruleTypes().some((m) => m.type === type)) return null;
  const owners = ruleTypes().filter((m) => key in m.schema.properties).map((m) => m.type);
  return owners.length ? `'${key}' is not a key of a ${type} rule; it belongs to ${owners.join(', ')} rules` : null;
}

/** ajv's message, rewritten to name the key the author has to touch. `data` is the file's content. */
export function schemaMessage(e: ErrorObject, data?: unknown): string {
  const p = e.params as Record<string, unknown>;
  const last = e.instancePath.split('/').slice(-1)[0] ?? '';
  const at = /^\d*$/.test(last) ? undefined : last;
  const where = at ? `'${at}' ` : '';
  switch (e.keyword) {
    case 'additionalProperties': {
      const key = String(p.additionalProperty);
      const entry = /^\/\d+$/.test(e.instancePath) && Array.isArray(data) ? data[Number(e.instancePath.slice(1))] : undefined;
      return otherTypesKey(key, entry) ?? `unknown key '${key}'${at ? ` in '${at}'` : ''}`;
    }
    case 'required': return `missing required key '${String(p.missingProperty)}'${at ? ` in '${at}'` : ''}`;
    case 'enum': return `${where}must be one of ${(p.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ')}`;
    case 'const': return `${where}must be ${JSON.stringify(p.allowedValue)}`;
    case 'format': return `${where}must be a ${String(p.format)}${p.format === 'uuid' ? ' (generate one with: node -e "console.log(crypto.randomUUID())")' : ''}`;
    case 'pattern': return `${where}must match ${String(p.pattern)}`;
    default: return `${where}${e.message ?? 'is invalid'}`;
  }
}

/** if/then wrappers repeat the inner error as "must match then schema"; drop those. */
export function usefulErrors(errors: ErrorObject[] | null | undefined, data?: unknown): ErrorObject[] {
  const seen = new Set<string>();
  const out: ErrorObject[] = [];
  for (const e of errors ?? []) {
    if (e.keyword === 'if') continue;
    const key = `${e.instancePath}|${schemaMessage(e, data)}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(e);
  }
  return out;
}
