import type { AlertDoc } from '../../../lib/alert.js';
import type { ConnectionDoc } from '../../../lib/ecs.js';
import { buildAlert } from '../alert.js';
import { formatDuration } from '../duration.js';
import type { RuleDef } from '../types.js';
import { LATENESS_MS, MAX_GROUPS, Suppressor } from './engine.js';

// pivot_chain: hop n's destination host becomes hop n+1's source within a
// per-hop maxspan, over a port set (admin ports). Chain state lives at the
// joining host, so the engine is message-driven:
//   pivot-out @src   an admin connection leaving src
//   pivot-in  @dst   a chain (one hop or more) arriving at dst
//   pivot-done @origin  a chain of >= min_hops, for per-origin suppression
// One process delivers these to itself (backtest); the pipeline re-keys them
// through connaudit.rekey so that every message for a host reaches the one
// instance that owns that key, whichever host's sensor saw the connection.
// The same connection seen by both ends (egress on A, ingress on B) has one
// community_id and is counted once.

export interface Hop {
  src: string;
  dst: string;
  port: number;
  /** connection start (ms): an SSH session outlives the hop it enabled, so order by start, not end. */
  start: number;
  id: string;
  cid: string;
}

export type PivotMessage =
  | { kind: 'pivot-out'; rule: string; key: string; hop: Hop }
  | { kind: 'pivot-in'; rule: string; key: string; chain: Hop[] }
  | { kind: 'pivot-done'; rule: string; key: string; chain: Hop[] };

const MAX_CHAIN = 8;
const MAX_PER_NODE = 64;

interface Node { ins: Hop[][]; outs: Hop[]; last: number }

export interface PivotEngine {
  rule: RuleDef;
  /** The messages one matching connection document produces. */
  route(doc: ConnectionDoc): PivotMessage[];
  receive(msg: PivotMessage): { alerts: AlertDoc[]; forward: PivotMessage[] };
  gc(watermarkMs: number): void;
  snapshot(): unknown;
  restore(state: unknown): void;
}

export function pivotChainEngine(rule: RuleDef): PivotEngine {
  let nodes = new Map<string, Node>();
  let seen = new Map<string, number>();
  const sup = new Suppressor(rule.suppressMs);
  // first hop id -> longest chain length already alerted (a longer chain re-emits the same alert id)
  let emitted = new Map<string, number>();
  const span = rule.hopMaxspanMs;

  const node = (k: string, t: number): Node | null => {
    let n = nodes.get(k);
    if (!n) {
      if (nodes.size >= MAX_GROUPS) return null;
      n = { ins: [], outs: [], last: t };
      nodes.set(k, n);
    }
    n.last = Math.max(n.last, t);
    return n;
  };
  const firstSeen = (sig: string, t: number): boolean => {
    if (seen.has(sig)) return false;
    seen.set(sig, t);
    return true;
  };
  const join = (chain: Hop[], hop: Hop, forward: PivotMessage[]): void => {
    const last = chain[chain.length - 1]!;
    if (hop.start < last.start || hop.start - last.start > span || chain.length >= MAX_CHAIN) return;
    if (hop.dst === chain[0]!.src || chain.some((h) => h.dst === hop.dst)) return; // no cycles
    const next = [...chain, hop];
    forward.push({ kind: 'pivot-in', rule: rule.id, key: hop.dst, chain: next });
    if (next.length >= rule.minHops) forward.push({ kind: 'pivot-done', rule: rule.id, key: next[0]!.src, chain: next });
  };

  return {
    rule,
    route(doc) {
      const port = doc.destination.port;
      if (!rule.ports.has(port)) return [];
      const start = Date.parse(doc.event.start);
      const hop: Hop = { src: doc.source.ip, dst: doc.destination.ip, port, start: Number.isNaN(start) ? Date.parse(doc['@timestamp']) : start, id: doc.event.id, cid: doc.network.community_id };
      return [
        { kind: 'pivot-out', rule: rule.id, key: hop.src, hop },
        { kind: 'pivot-in', rule: rule.id, key: hop.dst, chain: [hop] },
      ];
    },
    receive(msg) {
      const forward: PivotMessage[] = [];
      if (msg.kind === 'pivot-out') {
        if (!firstSeen(`o|${msg.hop.cid}`, msg.hop.start)) return { alerts: [], forward };
        const n = node(msg.key, msg.hop.start);
        if (!n) return { alerts: [], forward };
        n.outs.push(msg.hop);
        if (n.outs.length > MAX_PER_NODE) n.outs.shift();
        for (const c of n.ins) join(c, msg.hop, forward);
        return { alerts: [], forward };
      }
      const last = msg.chain[msg.chain.length - 1]!;
      if (msg.kind === 'pivot-in') {
        if (!firstSeen(`i|${msg.chain.map((h) => h.cid).join(',')}`, last.start)) return { alerts: [], forward };
        const n = node(msg.key, last.start);
        if (!n) return { alerts: [], forward };
        n.ins.push(msg.chain);
        if (n.ins.length > MAX_PER_NODE) n.ins.shift();
        for (const h of n.outs) join(msg.chain, h, forward);
        return { alerts: [], forward };
      }
      // pivot-done, at the origin host's owner
      const first = msg.chain[0]!;
      const sig = `d|${msg.chain.map((h) => h.cid).join(',')}`;
      if (!firstSeen(sig, last.start)) return { alerts: [], forward };
      const before = emitted.get(first.id);
      if (sup.suppressed(msg.key, last.start) && !(before !== undefined && before < msg.chain.length)) return { alerts: [], forward };
      if (before !== undefined && before >= msg.chain.length) return { alerts: [], forward };
      emitted.set(first.id, msg.chain.length);
      sup.fired(msg.key, last.start);
      const path = [first.src, ...msg.chain.map((h) => h.dst)];
      const alert = buildAlert({
        rule, groupKey: msg.key, fields: [['source.ip', first.src], ['destination.ip', last.dst]],
        firstMs: first.start, lastMs: last.start, count: msg.chain.length, eventIds: msg.chain.map((h) => h.id), values: path,
        summary: `${msg.chain.length}-hop chain ${path.join(' -> ')} over ports ${[...new Set(msg.chain.map((h) => h.port))].join(',')}, each hop within ${formatDuration(span)} of the previous`,
        extra: { hops: msg.chain.map((h) => ({ source: h.src, destination: h.dst, port: h.port, start: new Date(h.start).toISOString(), event_id: h.id })) },
      });
      return { alerts: [alert], forward };
    },
    gc(w) {
      const horizon = w - 2 * span - LATENESS_MS;
      sup.gc(w);
      for (const [k, t] of seen) if (t < horizon) seen.delete(k);
      for (const [k, n] of nodes) {
        n.outs = n.outs.filter((h) => h.start >= horizon);
        n.ins = n.ins.filter((c) => c[c.length - 1]!.start >= horizon);
        if (!n.outs.length && !n.ins.length) nodes.delete(k);
      }
      if (emitted.size > MAX_GROUPS) emitted = new Map([...emitted].slice(-MAX_GROUPS / 2));
    },
    snapshot: () => ({ nodes: [...nodes], seen: [...seen], sup: sup.snapshot(), emitted: [...emitted] }),
    restore(s) {
      const x = s as { nodes?: Array<[string, Node]>; seen?: Array<[string, number]>; sup?: unknown; emitted?: Array<[string, number]> } | null;
      if (Array.isArray(x?.nodes)) nodes = new Map(x.nodes);
      if (Array.isArray(x?.seen)) seen = new Map(x.seen);
      if (Array.isArray(x?.emitted)) emitted = new Map(x.emitted);
      sup.restore(x?.sup);
    },
  };
}
