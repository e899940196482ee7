import type { AlertDoc } from '../../../lib/alert.js';
import type { ConnectionDoc } from '../../../lib/ecs.js';
import { buildAlert } from '../alert.js';
import { formatDuration } from '../duration.js';
import type { RuleTypeModule } from '../rule-type.js';
import type { RuleCommon } from '../types.js';
import { LATENESS_MS, MAX_GROUPS, Suppressor } from './engine.js';

// pivot_chain: hop n's destination host becomes hop n+1's source within a
// per-hop maxspan, over a port set (admin ports). Reported once per chain,
// with every hop, however many pipeline instances own its joints.
//
// Every matching connection X->Y reaches this engine twice, re-keyed under
// each address (pipeline/rules/locality.ts), so the owner of a host knows the
// admin hops leaving it (outs) and arriving at it (ins). A chain grows as a
// message that carries all its hops and travels to the owner of its tail:
//   pivot-chain @tail   a chain ending at `tail`: the owner extends it with
//                       tail's outs and forwards each longer chain to the
//                       owner of the new tail; a chain nothing extends is done
//   pivot-done  @origin a chain of >= min_hops that nothing extended, at the
//                       owner of its first host (per-origin suppression)
// The pipeline carries these through connaudit.rekey (a forward, see
// pipeline/rekey.ts); one process hands them to itself (localRekey).
//
// Where chains start decides whether B->C->D is a chain of its own or the tail
// of A->B->C->D. A hop X->Y is a root unless an admin hop into X (from a host
// other than Y) started at most hop_maxspan before it: such a hop is interior
// and only grows the chains through X. The ins of X arrive in any order
// relative to X->Y, so the root decision waits until event time is
// ROOT_GRACE_MS past the hop's start; after that the chain is grown at once
// from the hops already stored at each joint. So the alert comes ROOT_GRACE_MS
// after the first hop, or when the last hop arrives if that is later. A hop
// arriving after the chain was reported extends it again: the longer chain has
// the same alert id (origin + first hop, lib/ids.ts), so it replaces the alert.
//
// Loops are impossible by construction: a chain never extends to a host it
// already holds, it is at most MAX_CHAIN hops, and a chain message received a
// second time (redelivery) is dropped by its hop signature.
// The same connection seen by both ends (egress on A, ingress on B) has one
// community_id and is counted once.

export interface PivotChainRule extends RuleCommon {
  type: 'pivot_chain';
  ports: Set<number>;
  hopMaxspanMs: number;
  minHops: number;
}

/**
 * The rekey grouping name of pivot hops: each admin connection is re-keyed by
 * both of its addresses under one name ('related.ip', as ECS names the field
 * of all IPs of an event), so the hop into B and the hop out of B meet.
 */
export const PIVOT_BY = 'related.ip';

export interface Hop {
  src: string;
  dst: string;
  port: number;
  /** connection start (ms): an SSH session outlives the hop it enabled, so order by start, not end. */
  start: number;
  id: string;
  cid: string;
  /** the reporting end: its host.name and process.name, so the alert names who made (or accepted) each hop */
  seenBy?: { host: string; process?: string; direction: string };
}

export type PivotMessage =
  | { kind: 'pivot-chain'; rule: string; key: string; chain: Hop[] }
  | { kind: 'pivot-done'; rule: string; key: string; chain: Hop[] };

export interface PivotResult {
  alerts: AlertDoc[];
  forward: PivotMessage[];
}

export const MAX_CHAIN = 8;
const MAX_PER_NODE = 64;
/**
 * How long a root decision waits for the hops into its host: the engines'
 * lateness margin (records of a host whose clock runs ahead, interim records
 * of a long session). A hop later than this can split one chain into two
 * alerts (each still correct), never lose one.
 */
export const ROOT_GRACE_MS = LATENESS_MS;
const STATE_VERSION = 2;

interface Chain { hops: Hop[]; extended: boolean }
interface Node { ins: Hop[]; outs: Hop[]; chains: Chain[]; last: number }
interface PendingRoot { hop: Hop; due: number }

export interface PivotEngine {
  rule: PivotChainRule;
  /** A matching connection document, re-keyed under `key` (its source or destination address). */
  observe(doc: ConnectionDoc, key: string): PivotResult;
  /** A chain or done message addressed to a key this instance owns. */
  receive(msg: PivotMessage): PivotResult;
  /** Root decisions whose grace has passed at event time `watermarkMs`. */
  settle(watermarkMs: number): PivotResult;
  /** Event time of the earliest root decision still waiting (Infinity: none), so callers settle only engines that have one due. */
  nextDue(): number;
  gc(watermarkMs: number): void;
  snapshot(): unknown;
  restore(state: unknown): void;
}

const hosts = (chain: Hop[]): string[] => [chain[0]!.src, ...chain.map((h) => h.dst)];
const sigOf = (chain: Hop[]): string => chain.map((h) => h.cid).join(',');

const isHop = (h: unknown): h is Hop => {
  const x = h as Partial<Hop> | null;
  return typeof x?.src === 'string' && typeof x.dst === 'string' && typeof x.port === 'number' && typeof x.start === 'number' && typeof x.id === 'string' && typeof x.cid === 'string';
};

/**
 * Reads a pivot message that came back over connaudit.rekey addressed to
 * `key`. It was written by this engine, but a forward is trusted only as far as
 * it keeps the invariants that make cascades finite: connected hops, no host
 * twice, at most MAX_CHAIN hops, addressed to its tail (chain) or origin (done).
 */
export function parsePivotMessage(body: unknown, key: string): PivotMessage {
  const m = body as Partial<PivotMessage> | null;
  const where = `pivot forward for ${key}`;
  if ((m?.kind !== 'pivot-chain' && m?.kind !== 'pivot-done') || typeof m.rule !== 'string') throw new Error(`${where}: not a pivot-chain/pivot-done message with a rule id`);
  if (m.key !== key) throw new Error(`${where}: message says key ${String(m.key)}`);
  const chain = m.chain;
  if (!Array.isArray(chain) || chain.length === 0 || !chain.every(isHop)) throw new Error(`${where}: chain must be a non-empty list of hops {src, dst, port, start, id, cid}`);
  if (chain.length > MAX_CHAIN) throw new Error(`${where}: ${chain.length} hops, more than the cap of ${MAX_CHAIN}`);
  for (let i = 1; i < chain.length; i++) if (chain[i]!.src !== chain[i - 1]!.dst) throw new Error(`${where}: hop ${i + 1} starts at ${chain[i]!.src}, not at ${chain[i - 1]!.dst}`);
  const hs = hosts(chain);
  if (new Set(hs).size !== hs.length) throw new Error(`${where}: host repeated in ${hs.join(' -> ')}`);
  const want = m.kind === 'pivot-chain' ? chain[chain.length - 1]!.dst : chain[0]!.src;
  if (key !== want) throw new Error(`${where}: a ${m.kind} message belongs to ${want}`);
  return { kind: m.kind, rule: m.rule, key, chain };
}

export function pivotChainEngine(rule: PivotChainRule): PivotEngine {
  let nodes = new Map<string, Node>();
  let seen = new Map<string, number>();
  // Roots waiting for their decision, in due order. Settle runs on every document, so it
  // must not scan: input is nearly in time order, so inserting from the back is O(1) amortised.
  let pending: PendingRoot[] = [];
  const addPending = (p: PendingRoot): void => {
    let i = pending.length;
    while (i > 0 && pending[i - 1]!.due > p.due) i--;
    pending.splice(i, 0, p);
  };
  const sup = new Suppressor(rule.suppressMs);
  // first hop id -> longest chain already alerted (a longer chain re-emits the same alert id)
  let emitted = new Map<string, number>();
  const span = rule.hopMaxspanMs;

  const node = (k: string, t: number): Node | null => {
    let n = nodes.get(k);
    if (!n) {
      if (nodes.size >= MAX_GROUPS) return null;
      n = { ins: [], outs: [], chains: [], last: t };
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
  const push = <T>(list: T[], x: T): void => {
    list.push(x);
    if (list.length > MAX_PER_NODE) list.shift();
  };
  /** Hop `next` continues `chain` at its tail: in time, within the maxspan, to a host not yet in it, under the cap. */
  const continues = (chain: Hop[], next: Hop): boolean => {
    const last = chain[chain.length - 1]!;
    if (next.start < last.start || next.start - last.start > span || chain.length >= MAX_CHAIN) return false;
    return !hosts(chain).includes(next.dst);
  };
  const extend = (c: Chain, next: Hop, out: PivotResult): void => {
    if (!continues(c.hops, next)) return;
    c.extended = true;
    out.forward.push({ kind: 'pivot-chain', rule: rule.id, key: next.dst, chain: [...c.hops, next] });
  };
  const empty = (): PivotResult => ({ alerts: [], forward: [] });

  const onChain = (tail: string, chain: Hop[], out: PivotResult): void => {
    const last = chain[chain.length - 1]!;
    if (!firstSeen(`c|${sigOf(chain)}`, last.start)) return;
    const n = node(tail, last.start);
    if (!n) return;
    const c: Chain = { hops: chain, extended: false };
    push(n.chains, c);
    for (const h of n.outs) extend(c, h, out);
    if (!c.extended && chain.length >= rule.minHops) out.forward.push({ kind: 'pivot-done', rule: rule.id, key: chain[0]!.src, chain });
  };

  const onDone = (origin: string, chain: Hop[], out: PivotResult): void => {
    const first = chain[0]!;
    const last = chain[chain.length - 1]!;
    if (!firstSeen(`d|${sigOf(chain)}`, last.start)) return;
    const before = emitted.get(first.id);
    if (before !== undefined && before >= chain.length) return;
    // Suppression is per origin, but the longer version of a chain already reported replaces that alert.
    if (sup.suppressed(origin, last.start) && before === undefined) return;
    emitted.set(first.id, chain.length);
    sup.fired(origin, last.start);
    const path = hosts(chain);
    out.alerts.push(buildAlert({
      rule, groupKey: origin, fields: [['source.ip', first.src], ['destination.ip', last.dst]],
      firstMs: first.start, lastMs: last.start, count: chain.length, eventIds: chain.map((h) => h.id), values: path,
      summary: `${chain.length}-hop chain ${path.join(' -> ')} over ports ${[...new Set(chain.map((h) => h.port))].join(',')}, each hop within ${formatDuration(span)} of the previous`,
      extra: { hops: chain.map((h) => ({ source: h.src, destination: h.dst, port: h.port, start: new Date(h.start).toISOString(), event_id: h.id, ...(h.seenBy ? { [h.seenBy.direction === 'ingress' ? 'destination_host' : 'source_host']: h.seenBy.host, [h.seenBy.direction === 'ingress' ? 'destination_process' : 'source_process']: h.seenBy.process } : {}) })) },
    }));
  };

  return {
    rule,
    observe(doc, key) {
      const out = empty();
      const port = doc.destination.port;
      if (!rule.ports.has(port) || doc.source.ip === doc.destination.ip) return out;
      const parsed = Date.parse(doc.event.start);
      const hop: Hop = { src: doc.source.ip, dst: doc.destination.ip, port, start: Number.isNaN(parsed) ? Date.parse(doc['@timestamp']) : parsed, id: doc.event.id, cid: doc.network.community_id, seenBy: { host: doc.host.name, process: doc.process?.name, direction: doc.network.direction } };
      if (key === hop.src) {
        if (!firstSeen(`o|${hop.cid}`, hop.start)) return out;
        const n = node(key, hop.start);
        if (!n) return out;
        push(n.outs, hop);
        for (const c of n.chains) extend(c, hop, out);
        addPending({ hop, due: hop.start + ROOT_GRACE_MS });
      } else if (key === hop.dst) {
        if (!firstSeen(`i|${hop.cid}`, hop.start)) return out;
        const n = node(key, hop.start);
        if (n) push(n.ins, hop);
      }
      return out;
    },
    receive(msg) {
      const out = empty();
      if (msg.kind === 'pivot-chain') onChain(msg.key, msg.chain, out);
      else onDone(msg.key, msg.chain, out);
      return out;
    },
    settle(w) {
      const out = empty();
      let done = 0;
      for (; done < pending.length && pending[done]!.due <= w; done++) {
        const r = pending[done]!.hop;
        const ins = nodes.get(r.src)?.ins ?? [];
        const interior = ins.some((i) => i.src !== r.dst && i.start <= r.start && r.start - i.start <= span);
        if (!interior) out.forward.push({ kind: 'pivot-chain', rule: rule.id, key: r.dst, chain: [r] });
      }
      if (done > 0) pending = pending.slice(done);
      return out;
    },
    nextDue: () => (pending.length > 0 ? pending[0]!.due : Number.POSITIVE_INFINITY),
    gc(w) {
      // Chains and hops stay while a hop could still join them, plus the lateness margin; roots leave only via settle.
      const horizon = w - 2 * span - LATENESS_MS - ROOT_GRACE_MS;
      sup.gc(w);
      for (const [k, t] of seen) if (t < horizon) seen.delete(k);
      for (const [k, n] of nodes) {
        n.outs = n.outs.filter((h) => h.start >= horizon);
        n.ins = n.ins.filter((h) => h.start >= horizon);
        n.chains = n.chains.filter((c) => c.hops[c.hops.length - 1]!.start >= horizon);
        if (!n.outs.length && !n.ins.length && !n.chains.length) nodes.delete(k);
      }
      if (emitted.size > MAX_GROUPS) emitted = new Map([...emitted].slice(-MAX_GROUPS / 2));
    },
    snapshot: () => ({ v: STATE_VERSION, nodes: [...nodes], seen: [...seen], pending, sup: sup.snapshot(), emitted: [...emitted] }),
    restore(s) {
      const x = s as { v?: number; nodes?: Array<[string, Node]>; seen?: Array<[string, number]>; pending?: PendingRoot[]; sup?: unknown; emitted?: Array<[string, number]> } | null;
      // Version 1 kept chains in another shape; starting empty loses at most the chains in flight.
      if (x?.v !== STATE_VERSION) return;
      if (Array.isArray(x.nodes)) nodes = new Map(x.nodes);
      if (Array.isArray(x.seen)) seen = new Map(x.seen);
      if (Array.isArray(x.pending)) pending = [...x.pending].sort((a, b) => a.due - b.due);
      if (Array.isArray(x.emitted)) emitted = new Map(x.emitted);
      sup.restore(x.sup);
    },
  };
}

export const pivotChainType: RuleTypeModule<PivotChainRule> = {
  type: 'pivot_chain',
  summary: 'admin hops A->B->C... where each hop starts from the previous destination within `hop_maxspan`, over `ports`',
  schema: {
    properties: { ports: { $ref: '#/definitions/values' }, hop_maxspan: { $ref: '#/definitions/duration' }, min_hops: { type: 'integer', minimum: 2 } },
    required: ['ports', 'hop_maxspan'],
  },
  fieldKeys: [],
  compile(common, c) {
    const v = c.raw.ports;
    const named = typeof v === 'object' && v !== null && !Array.isArray(v) ? String((v as Record<string, unknown>).list) : undefined;
    const items = named !== undefined ? c.list(named) : Array.isArray(v) ? v : [v];
    let ports = new Set<number>();
    if (!items) c.fail(['ports', 'list'], `unknown list '${named ?? ''}'`);
    else {
      ports = new Set(items.map(Number));
      if ([...ports].some((p) => !Number.isInteger(p) || p < 0 || p > 65535)) c.fail(['ports'], `ports must be integers 0..65535, got ${JSON.stringify(items)}`);
    }
    const hopMaxspanMs = c.duration('hop_maxspan', 0);
    return { ...common, type: 'pivot_chain', ports, hopMaxspanMs, minHops: (c.raw.min_hops as number | undefined) ?? 2, suppressMs: c.duration('suppress', hopMaxspanMs) };
  },
  signature: (r) => [[...r.ports], r.hopMaxspanMs, r.minHops],
  stateFields: () => [PIVOT_BY],
  hostLocal: () => false,
  rekeyKeys: () => (doc) => (doc.source.ip === doc.destination.ip ? [] : [doc.source.ip, doc.destination.ip]),
  periodicAlertIds: () => false,
  engine: (r) => ({ kind: 'pivot', e: pivotChainEngine(r) }),
};
