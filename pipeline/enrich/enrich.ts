import { communityId } from '../../lib/community-id.js';
import type { ConnectionDoc } from '../../lib/ecs.js';
import { CidrSet } from '../../lib/cidr.js';
import { globToRegExp } from '../../lib/glob.js';
import type { PipelineConfig } from './config.js';
import { dependencyDeclared } from './dependencies.js';

// Enrichment runs in TypeScript, before the stages, because the local
// Elasticsearch (integ-test-zip) has no ingest processors, and because the
// backtest must see the same fields the live pipeline indexes. It is a pure
// function of the document and the config: no clock, no I/O.

export interface ServiceIdentity {
  name: string;
  owner?: string;
  environment?: string;
  /** The external domains the service declared it calls (catalogue dependency_domains). */
  dependencyDomains?: readonly string[];
}

/** What enrichment needs from the service catalogue (pipeline/slo/catalogue.ts). */
export interface ServiceLookup {
  matchService(doc: ConnectionDoc): ServiceIdentity | undefined;
  matchDestinationService(doc: ConnectionDoc): ServiceIdentity | undefined;
}

/**
 * Used when the config lists no internal_cidrs: the address ranges that are
 * never on the public internet (RFC 1918, RFC 6598 CGNAT, loopback,
 * link-local, RFC 4193 ULA), so "external" means routable on the internet.
 */
export const DEFAULT_INTERNAL_CIDRS = ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', '100.64.0.0/10', '127.0.0.0/8', '169.254.0.0/16', '::1/128', 'fc00::/7', 'fe80::/10'];

export type Enricher = (doc: ConnectionDoc) => void;

export function createEnricher(cfg: PipelineConfig, services?: ServiceLookup): Enricher {
  const zones = Object.entries(cfg.zones ?? {}).map(([name, cidrs]) => ({ name, set: new CidrSet(cidrs) }));
  // Zones are internal by definition: an operator who names a zone will not also expect its hosts to count as external.
  const internal = new CidrSet([...(cfg.internal_cidrs ?? DEFAULT_INTERNAL_CIDRS), ...Object.values(cfg.zones ?? {}).flat()]);
  const groups = Object.entries(cfg.node_groups ?? {}).map(([name, globs]) => ({ name, res: globs.map(globToRegExp) }));
  const envs = (cfg.environments ?? []).map((e) => ({ ...e, hostRe: e.host ? globToRegExp(e.host) : undefined }));
  const zoneOf = (ip: string): string | undefined => zones.find((z) => z.set.has(ip))?.name;

  return (doc) => {
    if (!doc.network.community_id) {
      doc.network.community_id = communityId({ proto: 6, saddr: doc.source.ip, daddr: doc.destination.ip, sport: doc.source.port, dport: doc.destination.port });
    }
    const c = doc.connaudit;
    const srcZone = zoneOf(doc.source.ip);
    const dstZone = zoneOf(doc.destination.ip);
    if (srcZone) c.source_zone = srcZone;
    if (dstZone) c.destination_zone = dstZone;
    c.destination_external = !internal.has(doc.destination.ip);
    const host = doc.host.name;
    if (!c.node_group) {
      const g = groups.find((gr) => gr.res.some((re) => re.test(host)));
      if (g) c.node_group = g.name;
    }
    const service = services?.matchService(doc);
    if (service) {
      doc.service = { ...doc.service, name: service.name };
      if (service.owner) c.service_owner = service.owner;
      if (service.environment && !doc.service.environment) doc.service.environment = service.environment;
      const declared = dependencyDeclared(service.dependencyDomains ?? [], doc);
      if (declared !== undefined) c.dependency_declared = declared;
    }
    if (!doc.service?.environment) {
      // The observing host is the initiator on egress and the responder on ingress.
      const hostZone = doc.network.direction === 'egress' ? srcZone : dstZone;
      const e = envs.find((en) => (en.zone !== undefined && en.zone === hostZone) || (en.hostRe?.test(host) ?? false));
      if (e) doc.service = { ...doc.service, environment: e.environment };
    }
    const dest = services?.matchDestinationService(doc);
    if (dest) c.destination_service = dest.name;
  };
}
