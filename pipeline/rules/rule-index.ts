import type { Cidr } from '../../lib/cidr.js';
import { bytesOf } from '../../lib/cidr.js';
import type { ConnectionDoc } from '../../lib/ecs.js';
import { lookupField } from './doc-fields.js';
import { fieldGetter, type Getter } from './field.js';
import type { Guard, RuleDef } from './types.js';

// Evaluating every rule on every event made 1,000 rarely matching rules cost
// 40x the shipped set. Most rules test a field against a value set somewhere
// on their top-level `and` (a port, a process name, a state, an address
// range): a guard that must hold for the rule to match (Predicate.guards).
// Each rule is filed under its most selective guard: the smallest share of the
// field's possible values (network.direction eq egress passes half the
// documents, destination.port eq 22 a sliver), so the shared is_egress macro
// never becomes the index; per event, one lookup per indexed field (and per
// prefix length for address ranges) yields the few rules whose guard holds,
// and only those, plus the rules without a guard, are evaluated, in their load
// order.

/** Rough share of documents a value guard lets through: closed sets and booleans are small domains. */
function keyShare(field: string, keys: number): number {
  const f = lookupField(field);
  const domain = f?.allowed?.length ?? (f?.type === 'boolean' ? 2 : 65_536);
  return Math.min(1, keys / domain);
}

/**
 * Rough share of documents an address range lets through. Not the share of
 * the address space: a fleet's traffic crowds into a few private ranges, so a
 * /8 passes far more than 1/256 of it. Half the prefix bits (a quarter for
 * IPv6, whose host half carries no selectivity) is a deliberately cautious
 * guess: a /32 ranks with a port, a /8 with a small closed set.
 */
function cidrShare(cidrs: readonly Cidr[]): number {
  let s = 0;
  for (const c of cidrs) s += 2 ** -(c.bytes.length === 4 ? c.prefix / 2 : c.prefix / 8);
  return Math.min(1, s);
}

const shareOf = (g: Guard): number => (g.cidrs ? cidrShare(g.cidrs) : keyShare(g.field, g.keys.size));

/** An address masked to `prefix` bits as a map key: a number for IPv4 (no allocation), hex for IPv6. */
function netKey(b: Buffer, prefix: number): number | string {
  if (b.length === 4) {
    const v = ((b[0]! << 24) | (b[1]! << 16) | (b[2]! << 8) | b[3]!) >>> 0;
    return prefix === 0 ? 0 : (v & (0xffffffff << (32 - prefix))) >>> 0;
  }
  let out = '';
  const full = prefix >> 3;
  for (let i = 0; i < full; i++) out += b[i]!.toString(16).padStart(2, '0');
  const rest = prefix & 7;
  if (rest) out += (b[full]! & ((0xff << (8 - rest)) & 0xff)).toString(16).padStart(2, '0');
  return out;
}

interface ValueField { get: Getter; byKey: Map<string, number[]> }
/** Per prefix length and family: rules by masked network. */
interface NetLevel { v4: boolean; prefix: number; byNet: Map<number | string, number[]> }
interface AddressField { get: Getter; levels: NetLevel[] }

function add(hits: number[], list: number[] | undefined): void {
  if (list !== undefined) for (const i of list) hits.push(i);
}

function takeNets(hits: number[], f: AddressField, ip: string): void {
  const b = bytesOf(ip);
  if (b === null) return;
  const v4 = b.length === 4;
  for (const l of f.levels) if (l.v4 === v4) add(hits, l.byNet.get(netKey(b, l.prefix)));
}

export class RuleIndex {
  private readonly values: ValueField[] = [];
  private readonly addresses: AddressField[] = [];
  private readonly always: number[] = [];
  /** marks[i] === gen: rule i is already among this call's candidates (no Set per event). */
  private readonly marks: Uint32Array;
  private gen = 0;
  /** Scratch for one candidates() call (filled and merged before it returns). */
  private readonly hits: number[] = [];

  /** `rules[i]` is returned as index i. */
  constructor(rules: RuleDef[]) {
    this.marks = new Uint32Array(rules.length);
    const byField = new Map<string, Map<string, number[]>>();
    const byNetField = new Map<string, Map<string, NetLevel>>();
    const file = <K>(m: Map<K, number[]>, k: K, i: number) => {
      const list = m.get(k);
      if (!list) m.set(k, [i]);
      else if (list[list.length - 1] !== i) list.push(i);
    };
    rules.forEach((r, i) => {
      const guards = r.condition.guards;
      if (!guards?.length) { this.always.push(i); return; }
      let best = guards[0]!;
      for (const g of guards) if (shareOf(g) < shareOf(best)) best = g;
      if (best.cidrs) {
        let levels = byNetField.get(best.field);
        if (!levels) byNetField.set(best.field, (levels = new Map()));
        for (const c of best.cidrs) {
          const v4 = c.bytes.length === 4;
          const id = `${v4 ? 4 : 6}/${c.prefix}`;
          let level = levels.get(id);
          if (!level) levels.set(id, (level = { v4, prefix: c.prefix, byNet: new Map() }));
          file(level.byNet, netKey(c.bytes, c.prefix), i);
        }
        return;
      }
      let byKey = byField.get(best.field);
      if (!byKey) byField.set(best.field, (byKey = new Map()));
      for (const k of best.keys) file(byKey, k, i);
    });
    for (const [field, byKey] of byField) this.values.push({ get: fieldGetter(field), byKey });
    for (const [field, levels] of byNetField) this.addresses.push({ get: fieldGetter(field), levels: [...levels.values()] });
  }

  /** Indices of the rules that may match `doc`, ascending (load order). Do not modify the result. */
  candidates(doc: ConnectionDoc): readonly number[] {
    const hits = this.hits;
    hits.length = 0;
    for (const f of this.values) {
      const v = f.get(doc);
      if (v === undefined || v === null) continue;
      if (Array.isArray(v)) for (const x of v) add(hits, f.byKey.get(String(x)));
      else add(hits, f.byKey.get(String(v)));
    }
    for (const f of this.addresses) {
      const v = f.get(doc);
      if (typeof v === 'string') takeNets(hits, f, v);
      else if (Array.isArray(v)) for (const x of v) if (typeof x === 'string') takeNets(hits, f, x);
    }
    return hits.length === 0 ? this.always : this.merge(hits);
  }

  /** hits + always, each once, ascending. */
  private merge(hits: number[]): number[] {
    if (++this.gen === 0xffffffff) { this.marks.fill(0); this.gen = 1; }
    const gen = this.gen;
    const out: number[] = [];
    for (const i of hits) if (this.marks[i] !== gen) { this.marks[i] = gen; out.push(i); }
    for (const i of this.always) if (this.marks[i] !== gen) { this.marks[i] = gen; out.push(i); }
    return out.length > 1 ? out.sort((a, b) => a - b) : out;
  }
}
