import { describe, expect, it } from 'vitest';
import type { AlertDoc } from '../../lib/alert.js';
import type { ConnectionDoc } from '../../lib/ecs.js';
import { forwardMessage, RekeyBuffer } from '../rekey.js';
import { MAX_CHAIN, ROOT_GRACE_MS } from './engines/pivot-chain.js';
import { loadRuleSet } from './loader.js';
import { createCrossHostRuleStage, createRuleStage, type CrossHostRuleStage, type RuleStage } from './stage.js';
import { synthDoc } from '../../tools/gen/synth.js';
import { RULE_HEAD, ruleDir } from '../../test/helpers/rules.js';
import type { RuleSet } from './types.js';

// Pivot chains over two simulated pipeline instances. Each instance has a
// primary rule stage (with a Rekeyer) and a cross-host stage; a partition
// function picks the owner of every key, as Kafka's partitioner and the
// consumer group do. Re-keyed documents and forwards travel as the JSON the
// rekey topic carries, through one FIFO queue (the topic). The hosts
// alternate between the instances, so every joint of a chain is on the other
// instance from the one before it.

const T0 = Date.parse('2025-03-03T10:00:00Z');
const MIN = 60_000;
const IP = (i: number) => `10.0.0.${i}`;
type Inst = 'x' | 'y';
/** Hosts 10.0.0.1, .3, .5 ... on x; .2, .4, .6 ... on y. */
const owner = (key: string): Inst => (Number(key.split('.').pop()) % 2 === 1 ? 'x' : 'y');

const ruleset = (extra = ''): RuleSet => {
  const dir = ruleDir({ 'r.yaml': `${RULE_HEAD()}  type: pivot_chain\n  condition: true\n  ports: [22, 445]\n  hop_maxspan: 10m\n${extra}` });
  const r = loadRuleSet(dir);
  expect(r.errors).toEqual([]);
  return r.ruleset;
};

/** One admin hop src -> dst starting `startMin` after T0, reported by the source host (and by the destination if both). */
const hop = (src: number, dst: number, startMin: number, seq: number, reporter = src): ConnectionDoc =>
  synthDoc({ t: T0 + startMin * MIN + 1000, durationMs: 1000, src: IP(src), dst: IP(dst), host: `host-${reporter}`, dport: 22, seq });

type Wire = { by: string; key: string; value: string; forward: boolean };

class TwoInstances {
  readonly alerts: AlertDoc[] = [];
  /** (instance, chain length) of every pivot-chain forward delivered: where each joint was extended. */
  readonly joints: Array<[Inst, number]> = [];
  private readonly buffers = { x: new RekeyBuffer(), y: new RekeyBuffer() };
  private readonly primary: Record<Inst, RuleStage>;
  private readonly cross: Record<Inst, CrossHostRuleStage>;
  private readonly topic: Wire[] = [];

  /** `copies` > 1 delivers every message that many times (at-least-once redelivery). */
  constructor(rs: RuleSet, private readonly copies = 1) {
    this.primary = { x: createRuleStage(rs, { rekey: this.buffers.x }), y: createRuleStage(rs, { rekey: this.buffers.y }) };
    this.cross = { x: createCrossHostRuleStage(rs), y: createCrossHostRuleStage(rs) };
  }

  /** Each document goes to the primary stage of its reporting host's owner, as the host-keyed topic does. */
  feed(docs: ConnectionDoc[]): this {
    for (const d of docs) {
      const inst = owner(d.host.name.replace('host-', '10.0.0.'));
      this.alerts.push(...this.primary[inst].process(d));
      for (const r of this.buffers[inst].drain()) this.topic.push({ by: r.by, key: r.key, value: JSON.stringify(r.doc), forward: false });
    }
    return this.deliver();
  }

  /** Both rekey consumers tick at event time `t` (a batch's newest event). */
  tick(t: number): this {
    for (const inst of ['x', 'y'] as const) {
      this.alerts.push(...(this.cross[inst].tick?.(t) ?? []));
      this.publish(inst);
    }
    return this.deliver();
  }

  private publish(inst: Inst): void {
    for (const f of this.cross[inst].drainForwards()) {
      const m = forwardMessage(f);
      this.topic.push({ by: f.by, key: f.key, value: String(m.value), forward: true });
    }
  }

  private deliver(): this {
    for (let m = this.topic.shift(); m; m = this.topic.shift()) {
      const inst = owner(m.key);
      for (let i = 0; i < this.copies; i++) {
        const body = JSON.parse(m.value) as unknown;
        if (m.forward) {
          const msg = body as { kind: string; chain: unknown[] };
          if (i === 0 && msg.kind === 'pivot-chain') this.joints.push([inst, msg.chain.length]);
          this.alerts.push(...this.cross[inst].processForward(body, m.by, m.key));
        } else {
          this.alerts.push(...this.cross[inst].processRekeyed(body as ConnectionDoc, m.by, m.key));
        }
      }
      this.publish(inst);
    }
    return this;
  }
}

/** A chain through hosts 1 -> 2 -> ... -> n+1, one hop every 3 minutes, each reported by both ends. */
const chainDocs = (hops: number, firstSeq = 0): ConnectionDoc[] =>
  Array.from({ length: hops }, (_, i) => [hop(i + 1, i + 2, i * 3, firstSeq + i), hop(i + 1, i + 2, i * 3, firstSeq + i, i + 2)]).flat();

const hopsOf = (a: AlertDoc) => (a.connaudit.alert as unknown as { hops: Array<{ source: string; destination: string; event_id: string }> }).hops;
const later = T0 + 2 * 60 * MIN;

describe('pivot chains across two instances', () => {
  it.each([2, 3, 4])('a %i-hop chain whose joints alternate between the instances raises one alert naming every hop', (n) => {
    const docs = chainDocs(n);
    const sim = new TwoInstances(ruleset()).feed(docs).tick(later);
    expect(sim.alerts).toHaveLength(1);
    const a = sim.alerts[0]!;
    expect(a.connaudit.alert.values).toEqual(Array.from({ length: n + 1 }, (_, i) => IP(i + 1)));
    expect(hopsOf(a).map((h) => `${h.source}>${h.destination}`)).toEqual(Array.from({ length: n }, (_, i) => `${IP(i + 1)}>${IP(i + 2)}`));
    expect(a.connaudit.alert.event_ids).toEqual(docs.filter((_, i) => i % 2 === 0).map((d) => d.event.id));
    expect(a.connaudit.alert.count).toBe(n);
    expect((a.source as { ip: string }).ip).toBe(IP(1));
    // the chain really crossed instances: it was extended on x and on y, one joint after the other
    expect(sim.joints).toEqual(Array.from({ length: n }, (_, i) => [owner(IP(i + 2)), i + 1]));
  });

  it('gives the same alert as one process running the same stage code (backtest)', () => {
    const docs = chainDocs(4);
    const two = new TwoInstances(ruleset()).feed(docs).tick(later).alerts;
    const one = createRuleStage(ruleset());
    const single = [...docs.flatMap((d) => one.process(d)), ...one.flush()];
    expect(single.map((a) => [a.event.id, a.connaudit.alert.values])).toEqual(two.map((a) => [a.event.id, a.connaudit.alert.values]));
  });

  it('waits the root grace in event time, then reports; nothing before', () => {
    const sim = new TwoInstances(ruleset()).feed(chainDocs(3)).tick(T0 + ROOT_GRACE_MS - 1);
    expect(sim.alerts).toHaveLength(0);
    sim.tick(T0 + ROOT_GRACE_MS + 1000);
    expect(sim.alerts.map((a) => a.connaudit.alert.count)).toEqual([3]);
  });

  it('decides roots as event time passes even if the stage is never ticked (the --diff side of a backtest)', () => {
    const stage = createRuleStage(ruleset());
    const early = chainDocs(3).flatMap((d) => stage.process(d));
    expect(early).toHaveLength(0);
    // any later admin hop moves event time past the root's grace
    const after = stage.process(hop(20, 21, ROOT_GRACE_MS / MIN + 1, 50));
    expect(after.map((a) => a.connaudit.alert.values)).toEqual([[IP(1), IP(2), IP(3), IP(4)]]);
  });

  it('assembles the whole chain when its hops arrive last-first (no suffix alert B->C->D)', () => {
    const docs = chainDocs(3);
    const sim = new TwoInstances(ruleset()).feed([...docs].reverse()).tick(later);
    expect(sim.alerts).toHaveLength(1);
    expect(sim.alerts[0]!.connaudit.alert.values).toEqual([IP(1), IP(2), IP(3), IP(4)]);
  });

  it('every document and forward delivered twice still raises one alert', () => {
    const sim = new TwoInstances(ruleset(), 2).feed(chainDocs(4)).tick(later).tick(later);
    expect(sim.alerts).toHaveLength(1);
    expect(sim.alerts[0]!.connaudit.alert.count).toBe(4);
  });

  it('a hop later than hop_maxspan ends the chain there; a lone late hop raises nothing', () => {
    const late = new TwoInstances(ruleset()).feed([hop(1, 2, 0, 0), hop(2, 3, 11, 1)]).tick(later);
    expect(late.alerts).toHaveLength(0);
    // 1->2 (0 min), 2->3 (4 min), 3->4 (15 min: 11 after its predecessor): the chain is 1->2->3 only
    const cut = new TwoInstances(ruleset()).feed([hop(1, 2, 0, 0), hop(2, 3, 4, 1), hop(3, 4, 15, 2)]).tick(later);
    expect(cut.alerts.map((a) => a.connaudit.alert.values)).toEqual([[IP(1), IP(2), IP(3)]]);
  });

  it('never follows a loop: A->B->A raises nothing, A->B->C->A stops before returning to A', () => {
    expect(new TwoInstances(ruleset()).feed([hop(1, 2, 0, 0), hop(2, 1, 3, 1)]).tick(later).alerts).toHaveLength(0);
    const ring = new TwoInstances(ruleset()).feed([hop(1, 2, 0, 0), hop(2, 3, 3, 1), hop(3, 1, 6, 2), hop(1, 2, 9, 3)]).tick(later);
    for (const a of ring.alerts) expect(new Set(a.connaudit.alert.values).size).toBe(a.connaudit.alert.values!.length);
    expect(ring.alerts.map((a) => a.connaudit.alert.values)).toEqual([[IP(1), IP(2), IP(3)]]);
  });

  it(`caps a chain at ${MAX_CHAIN} hops`, () => {
    const sim = new TwoInstances(ruleset()).feed(Array.from({ length: MAX_CHAIN + 2 }, (_, i) => hop(i + 1, i + 2, i, i))).tick(later);
    expect(sim.alerts.map((a) => a.connaudit.alert.count)).toEqual([MAX_CHAIN]);
  });

  it('suppresses a second chain from the same origin within the suppression window', () => {
    const docs = [...chainDocs(2), hop(1, 6, 20, 10), hop(6, 8, 22, 11)];
    expect(new TwoInstances(ruleset('  suppress: 1h\n')).feed(docs).tick(later).alerts).toHaveLength(1);
    expect(new TwoInstances(ruleset('  suppress: 5m\n')).feed(docs).tick(later).alerts).toHaveLength(2);
  });

  it('a hop that arrives after the chain was reported re-raises the same alert id with the longer chain', () => {
    const sim = new TwoInstances(ruleset()).feed(chainDocs(2)).tick(later);
    sim.feed([hop(3, 4, 8, 7)]).tick(later);
    expect(sim.alerts.map((a) => a.connaudit.alert.count)).toEqual([2, 3]);
    expect(new Set(sim.alerts.map((a) => a.event.id)).size).toBe(1);
  });

  it('rejects a forward that breaks the chain invariants, naming the problem', () => {
    const stage = createCrossHostRuleStage(ruleset());
    const h = { src: IP(1), dst: IP(2), port: 22, start: T0, id: 'e1', cid: 'c1' };
    const back = { ...h, src: IP(2), dst: IP(1), id: 'e2', cid: 'c2' };
    const rule = ruleset().rules[0]!.id;
    expect(() => stage.processForward({ kind: 'pivot-chain', rule, key: IP(1), chain: [h, back] }, 'related.ip', IP(1))).toThrow(/host repeated in 10.0.0.1 -> 10.0.0.2 -> 10.0.0.1/);
    expect(() => stage.processForward({ kind: 'pivot-chain', rule, key: IP(3), chain: [h] }, 'related.ip', IP(3))).toThrow(/belongs to 10.0.0.2/);
    expect(() => stage.processForward({ kind: 'pivot-chain', rule, key: IP(2), chain: [{ src: IP(1) }] }, 'related.ip', IP(2))).toThrow(/non-empty list of hops/);
  });
});
