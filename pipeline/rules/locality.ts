import type { ConnectionDoc } from '../../lib/ecs.js';
import { tupleGetter, joinKey } from './field.js';
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

export const PIVOT_BY = 'related.ip';

export function stateFields(r: RuleDef): string[] {
  switch (r.type) {
    case 'match': return r.groupBy;
    case 'new_terms': return r.termFields;
    case 'sequence': return r.joinOn;
    case 'pivot_chain': return [PIVOT_BY];
    default: return r.groupBy;
  }
}

export function isHostLocal(r: RuleDef): boolean {
  // A match rule keeps only suppression state; it is local unless it suppresses per a cross-host group.
  if (r.type === 'match') return r.groupBy.length === 0 || r.groupBy.includes('host.name');
  if (r.type === 'pivot_chain') return false;
  return stateFields(r).includes('host.name');
}

/** The rekey grouping name of a cross-host rule: its state fields, comma-joined. */
export function rekeyBy(r: RuleDef): string {
  return stateFields(r).join(',');
}

/** The keys one document is re-published under, for a cross-host rule. */
export function rekeyKeys(r: RuleDef): (doc: ConnectionDoc) => string[] {
  if (r.type === 'pivot_chain') {
    return (doc) => (doc.source.ip === doc.destination.ip ? [] : [doc.source.ip, doc.destination.ip]);
  }
  const tuple = tupleGetter(stateFields(r));
  return (doc) => {
    const t = tuple(doc);
    return t ? [joinKey(t)] : [];
  };
}
