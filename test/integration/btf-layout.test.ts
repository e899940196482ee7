import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { CONFIG_LAYOUT, CONFIG_SIZE } from '../../agent/bpf-config.js';
import { DNS_EVENT_LAYOUT, DNS_EVENT_SIZE, DNS_FLAG, DNS_OWNER_LAYOUT, DNS_SIZES, DNS_STAT_ENUM } from '../../agent/dns-decoder.js';
import { EVENT_LAYOUT, EVENT_SIZE, FLAG, OWNER_LAYOUT, OWNER_SIZE, SEED_MARK, SIZES, STAT_ENUM, UDP_KEY_LAYOUT, UDP_KEY_SIZE, type FieldLayout } from '../../agent/event-decoder.js';

// Tetragon's alignchecker, for connaudit: the TypeScript side reads
// struct ca_event and writes struct ca_config at fixed offsets, so compare
// every field's offset and size, and the struct's total size (trailing padding
// included), with the BTF that clang wrote into the object we actually load.
// Needs the built object (built here if missing) and bpftool; no root.

const BPF_DIR = fileURLToPath(new URL('../../bpf/', import.meta.url));
const OBJ = `${BPF_DIR}connaudit.bpf.o`;

interface BtfType { kind: string; name: string; size?: number; typeId?: number; nelems?: number; members?: Array<{ name: string; typeId: number; bitsOffset: number }>; values?: Map<string, number> }

function parseRawBtf(text: string): Map<number, BtfType> {
  const types = new Map<number, BtfType>();
  let current: BtfType | null = null;
  for (const line of text.split('\n')) {
    const head = /^\[(\d+)\] (\w+) '([^']*)'(.*)$/.exec(line);
    if (head) {
      const rest = head[4]!;
      const num = (k: string): number | undefined => { const m = new RegExp(`${k}=(\\d+)`).exec(rest); return m ? Number(m[1]) : undefined; };
      current = { kind: head[2]!, name: head[3]!, size: num('size'), typeId: num('type_id'), nelems: num('nr_elems') };
      if (current.kind === 'STRUCT' || current.kind === 'UNION') current.members = [];
      if (current.kind === 'ENUM') current.values = new Map();
      types.set(Number(head[1]), current);
      continue;
    }
    const member = /^\s+'([^']*)' type_id=(\d+) bits_offset=(\d+)/.exec(line);
    if (member && current?.members) current.members.push({ name: member[1]!, typeId: Number(member[2]), bitsOffset: Number(member[3]) });
    const value = /^\s+'([^']*)' val=(-?\d+)/.exec(line);
    if (value && current?.values) current.values.set(value[1]!, Number(value[2]));
  }
  return types;
}

function sizeOf(types: Map<number, BtfType>, id: number): number {
  const t = types.get(id);
  if (!t) throw new Error(`BTF type ${id} missing`);
  switch (t.kind) {
    case 'INT': case 'STRUCT': case 'UNION': case 'ENUM': return t.size!;
    case 'TYPEDEF': case 'CONST': case 'VOLATILE': return sizeOf(types, t.typeId!);
    case 'ARRAY': return sizeOf(types, t.typeId!) * t.nelems!;
    case 'PTR': return 8;
    default: throw new Error(`no size rule for BTF kind ${t.kind}`);
  }
}

/** name -> {offset, size} in bytes, plus the struct's size, as the compiled object sees it. */
function layoutFromBtf(types: Map<number, BtfType>, structName: string): { size: number; fields: Record<string, FieldLayout> } {
  const s = [...types.values()].find((t) => t.kind === 'STRUCT' && t.name === structName);
  if (!s) throw new Error(`struct ${structName} is not in the BTF of ${OBJ}`);
  const fields: Record<string, FieldLayout> = {};
  for (const m of s.members!) {
    expect(m.bitsOffset % 8, `${structName}.${m.name} is a bitfield`).toBe(0);
    fields[m.name] = { offset: m.bitsOffset / 8, size: sizeOf(types, m.typeId) };
  }
  return { size: s.size!, fields };
}

let types: Map<number, BtfType>;

beforeAll(() => {
  if (!existsSync(OBJ)) execFileSync('make', ['-C', BPF_DIR], { stdio: 'inherit' });
  types = parseRawBtf(execFileSync('bpftool', ['btf', 'dump', 'file', OBJ, 'format', 'raw'], { encoding: 'utf8', maxBuffer: 64 << 20 }));
}, 120_000);

describe.each([
  ['ca_event', EVENT_LAYOUT as Record<string, FieldLayout>, EVENT_SIZE, 'agent/event-decoder.ts EVENT_LAYOUT'],
  ['ca_config', CONFIG_LAYOUT as Record<string, FieldLayout>, CONFIG_SIZE, 'agent/bpf-config.ts CONFIG_LAYOUT'],
  ['ca_owner', OWNER_LAYOUT as Record<string, FieldLayout>, OWNER_SIZE, 'agent/event-decoder.ts OWNER_LAYOUT'],
  ['ca_udp_key', UDP_KEY_LAYOUT as Record<string, FieldLayout>, UDP_KEY_SIZE, 'agent/event-decoder.ts UDP_KEY_LAYOUT'],
  ['ca_dns_event', DNS_EVENT_LAYOUT as Record<string, FieldLayout>, DNS_EVENT_SIZE, 'agent/dns-decoder.ts DNS_EVENT_LAYOUT'],
  ['ca_dns_owner', DNS_OWNER_LAYOUT as Record<string, FieldLayout>, DNS_SIZES.CA_DNS_OWNER_SIZE, 'agent/dns-decoder.ts DNS_OWNER_LAYOUT'],
])('struct %s in bpf/connaudit.bpf.o', (name, table, size, where) => {
  it(`has the total size ${where} expects (trailing padding included)`, () => {
    expect(layoutFromBtf(types, name).size, `sizeof(struct ${name}) vs ${where}`).toBe(size);
  });

  it(`has exactly the fields of ${where}, at the same offsets and sizes`, () => {
    const btf = layoutFromBtf(types, name).fields;
    const problems: string[] = [];
    for (const [field, want] of Object.entries(table)) {
      const got = btf[field];
      if (!got) problems.push(`${name}.${field}: in ${where}, not in the C struct`);
      else if (got.offset !== want.offset || got.size !== want.size) problems.push(`${name}.${field}: C has offset ${got.offset} size ${got.size}, ${where} has offset ${want.offset} size ${want.size}`);
    }
    for (const field of Object.keys(btf)) if (!(field in table)) problems.push(`${name}.${field}: in the C struct, missing from ${where}`);
    expect(problems).toEqual([]);
  });

  it('has no implicit holes: fields tile the struct', () => {
    const fields = Object.values(layoutFromBtf(types, name).fields).sort((a, b) => a.offset - b.offset);
    let end = 0;
    for (const f of fields) { expect(f.offset, `gap before offset ${f.offset}`).toBe(end); end = f.offset + f.size; }
    expect(end).toBe(size);
  });
});

// The flags, stat indexes, seed marks and sizes are C enums so that they reach
// BTF: every constant the agent mirrors must have the kernel's value, and
// every enumerator the kernel defines must be mirrored.
describe.each([
  ['ca_flag', FLAG as Record<string, number>, 'FLAG'],
  ['ca_stat', STAT_ENUM as Record<string, number>, 'STAT_ENUM'],
  ['ca_seed_mark', SEED_MARK as Record<string, number>, 'SEED_MARK'],
  ['ca_sizes', SIZES as Record<string, number>, 'SIZES'],
  ['ca_dns_flag', DNS_FLAG as Record<string, number>, 'DNS_FLAG (agent/dns-decoder.ts)'],
  ['ca_dns_stat', DNS_STAT_ENUM as Record<string, number>, 'DNS_STAT_ENUM (agent/dns-decoder.ts)'],
  ['ca_dns_sizes', DNS_SIZES as Record<string, number>, 'DNS_SIZES (agent/dns-decoder.ts)'],
])('enum %s in bpf/connaudit.bpf.o', (name, table, where) => {
  it(`has exactly the values of ${where.includes('/') ? where : `agent/event-decoder.ts ${where}`}`, () => {
    const e = [...types.values()].find((t) => t.kind === 'ENUM' && t.name === name);
    expect(e, `enum ${name} is not in the BTF of ${OBJ}`).toBeDefined();
    const problems: string[] = [];
    for (const [k, v] of Object.entries(table)) {
      const got = e!.values!.get(k);
      if (got === undefined) problems.push(`${k}: in ${where}, not in enum ${name}`);
      else if (got !== v) problems.push(`${k}: C has ${got}, ${where} has ${v}`);
    }
    for (const k of e!.values!.keys()) if (!(k in table)) problems.push(`${k}: in enum ${name}, missing from ${where}`);
    expect(problems).toEqual([]);
  });
});

it('EVENT_SIZE and CONFIG_SIZE agree with enum ca_sizes', () => {
  expect(EVENT_SIZE).toBe(SIZES.CA_EVENT_SIZE);
  expect(CONFIG_SIZE).toBe(SIZES.CA_CONFIG_SIZE);
});
