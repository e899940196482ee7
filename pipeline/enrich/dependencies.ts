import type { ConnectionDoc } from '../../lib/ecs.js';

// Whether an outbound connection goes to a domain its service declared in the
// catalogue (`dependency_domains`). The enricher writes the answer as
// connaudit.dependency_declared, so a rule (and an analyst in Kibana) reads one
// boolean instead of repeating each service's list.

const norm = (name: string): string => name.toLowerCase().replace(/\.$/, '');

/**
 * true/false for an external egress connection or UDP flow whose destination
 * name is known (destination.domain, from the agent's DNS cache) and whose
 * service declared at least one domain; undefined when there is nothing to
 * judge (no declaration, no name, internal, ingress, or a DNS record, whose
 * question is not a dependency by itself). A declared domain covers itself
 * and every name under it: `stripe.com` covers `api.stripe.com`.
 */
export function dependencyDeclared(domains: readonly string[], doc: ConnectionDoc): boolean | undefined {
  if (domains.length === 0) return undefined;
  if (doc.connaudit.record_kind === 'dns' || doc.network.direction !== 'egress' || doc.connaudit.destination_external !== true) return undefined;
  const name = doc.destination.domain ?? doc.destination.registered_domain;
  if (!name) return undefined;
  const n = norm(name);
  return domains.some((d) => {
    const x = norm(d);
    return n === x || n.endsWith(`.${x}`);
  });
}
