import type { ConnectionDoc } from '../../lib/ecs.js';
import { tupleGetter, joinKey } from './field.js';
import { moduleOf } from './engines/registry.js';
import type { RuleDef } from './types.js';

// Which rules can run on the primary consumer and which need the re-key hop
// (pipeline/rekey.ts). Kafka keys connections by host.name, so one instance
// sees every record of a host: a rule whose state is grouped by a tuple that
// includes host.name is complete there. Any other grouping (source.ip seen
// from the targets' ingress records, a destination, a node group) spreads
// over partitions, so its matching documents are re-published keyed by the
// group tuple and the cross-host stage keeps that state in one place.
// pivot_chain joins hops on the host they meet at: each admin connection is
// re-keyed by both of its addresses under one grouping name ('related.ip', as
// ECS names the field of all IPs of an event), so the hop into B and the hop
// out of B reach the same owner. Longer chains travel on from joint to joint
// as forwards under the same grouping name (engines/pivot-chain.ts).

export { PIVOT_BY } from './engines/pivot-chain.js';

export function stateFields(r: RuleDef): string[] {
  return moduleOf(r).stateFields(r);
}

export function isHostLocal(r: RuleDef): boolean {
  const m = moduleOf(r);
  return m.hostLocal ? m.hostLocal(r) : m.stateFields(r).includes('host.name');
}

/** The rekey grouping name of a cross-host rule: its state fields, comma-joined. */
export function rekeyBy(r: RuleDef): string {
  return stateFields(r).join(',');
}

/** The keys one document is re-published under, for a cross-host rule. */
export function rekeyKeys(r: RuleDef): (doc: ConnectionDoc) => string[] {
  const own = moduleOf(r).rekeyKeys;
  if (own) return own(r);
  const tuple = tupleGetter(stateFields(r));
  return (doc) => {
    const t = tuple(doc);
    return t ? [joinKey(t)] : [];
  };
}
