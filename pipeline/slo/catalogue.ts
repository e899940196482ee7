import type { ConnectionDoc } from '../../lib/ecs.js';
import type { ConnState } from '../../lib/record.js';
import { cidrContains, parseCidr, type Cidr } from '../../lib/cidr.js';
import { globToRegExp } from '../../lib/glob.js';
import { loadYamlConfig, schemaProblems, schemaValidator, YamlFile, type Path } from '../../lib/config-file.js';
import { ConfigError, type Problem } from '../../lib/errors.js';

// The service catalogue: who owns a connection, which upstream it calls, where
// it runs and what it promises. YAML, validated against
// schemas/services.schema.json by the shared loader (lib/config-file.ts);
// every problem reads `file:line:col: field: message`, all of them at once.

const SCHEMA = 'services.schema.json';
const HINT = 'fix each line above (schema: schemas/services.schema.json), then run again';

/** A catalogue that cannot be used: every problem with its file:line:col. A UserError, printed by the CLI. */
export class CatalogueError extends ConfigError {
  constructor(problems: Problem[]) {
    super(problems, HINT);
  }
}

export type SloType = 'availability' | 'latency';

export interface SloSpec {
  name: string;
  type: SloType;
  objective: number;
  /** 1 - objective/100: the share of events allowed to be bad. */
  budget: number;
  period: string;
  periodMs: number;
  goodStates: ReadonlySet<ConnState>;
  thresholdMs?: number;
  direction: 'egress' | 'ingress' | 'any';
  minEvents: number;
}

export interface NodeGroupSpec {
  name: string;
  hosts: RegExp[];
  labels?: Record<string, string>;
}

export interface ServiceSpec {
  name: string;
  owner?: string;
  environment?: string;
  match: {
    processNames: Set<string>;
    executables: Set<string>;
    containers: Set<string>;
    cgroupIds: Set<number>;
    listenPorts: Set<number>;
    hosts: RegExp[];
    nodeGroups: Set<string>;
    hasIdentity: boolean;
  };
  endpoints?: { cidrs: Cidr[]; ports: Set<number> };
  dependencies: string[];
  /** External domains the service calls (each covers its subdomains); empty: not declared. */
  dependencyDomains: string[];
  nodeGroups: NodeGroupSpec[];
  slowConnectMs: number;
  slos: SloSpec[];
}

export interface Catalogue {
  path: string;
  services: ServiceSpec[];
  /** Shared groups first, then each service's, in file order. */
  nodeGroups: NodeGroupSpec[];
}

export interface ServiceRef {
  name: string;
  owner?: string;
  environment?: string;
  dependencyDomains?: readonly string[];
}

const DEFAULT_GOOD_STATES: ConnState[] = ['SF', 'S1'];
const DEFAULT_PERIOD = '30d';
const DEFAULT_MIN_EVENTS = 20;
const DEFAULT_SLOW_CONNECT_MS = 200;

export function durationMs(text: string): number {
  const m = /^([1-9][0-9]*)(m|h|d)$/.exec(text);
  if (!m) throw new Error(`not a duration like 30m, 6h or 30d: ${JSON.stringify(text)}`);
  return Number(m[1]) * { m: 60_000, h: 3_600_000, d: 86_400_000 }[m[2] as 'm' | 'h' | 'd'];
}


/** Parse and check a catalogue held in memory; `file` only labels the problems. */
export function parseCatalogue(text: string, file = '<inline>'): Catalogue {
  return fromYaml(new YamlFile(file, text));
}

export function loadCatalogue(path: string): Catalogue {
  let src: YamlFile;
  try {
    src = loadYamlConfig(path, SCHEMA, HINT).src;
  } catch (err) {
    // The shared loader checked it already; keep one error type for the catalogue.
    if (err instanceof ConfigError) throw new CatalogueError(err.problems.map((p) => (/cannot read/.test(p.message) ? { ...p, message: p.message.replace('cannot read the file', 'cannot read the service catalogue') } : p)));
    throw err;
  }
  return fromYaml(src);
}

function fromYaml(src: YamlFile): Catalogue {
  const syntax = src.syntaxProblems();
  if (syntax.length > 0) throw new CatalogueError(syntax);
  const value = src.value() ?? {};
  const validate = schemaValidator(SCHEMA);
  // if/then/else repeats what its branch already said.
  if (!validate(value)) throw new CatalogueError(schemaProblems(src, (validate.errors ?? []).filter((e) => e.keyword !== 'if')));
  const raw = value as RawCatalogue;
  const problems: Problem[] = [];
  const at = (path: Path, message: string): void => void problems.push(src.problem(path, message));
  const shared = (raw.node_groups ?? []).map(nodeGroup);
  const services = raw.services.map((s, i) => service(s, i, at));
  const names = new Set<string>();
  raw.services.forEach((s, i) => {
    if (names.has(s.name)) at(['services', i, 'name'], `service '${s.name}' is defined twice`);
    names.add(s.name);
  });
  raw.services.forEach((s, i) => {
    (s.dependencies ?? []).forEach((d, j) => {
      if (!names.has(d)) at(['services', i, 'dependencies', j], `no service named '${d}' in this catalogue`);
    });
  });
  if (problems.length > 0) throw new CatalogueError(problems);
  return { path: src.file, services, nodeGroups: [...shared, ...services.flatMap((s) => s.nodeGroups)] };
}

interface RawNodeGroup { name: string; hosts?: string[]; labels?: Record<string, string> }
interface RawSlo {
  name: string; type: SloType; objective: number; period?: string; good_states?: ConnState[];
  threshold_ms?: number; direction?: 'egress' | 'ingress' | 'any'; min_events?: number;
}
interface RawService {
  name: string; owner?: string; environment?: string;
  match: { process_names?: string[]; executables?: string[]; containers?: string[]; cgroup_ids?: number[]; listen_ports?: number[]; hosts?: string[]; node_groups?: string[] };
  endpoints?: { cidrs: string[]; ports?: number[] };
  dependencies?: string[]; dependency_domains?: string[]; node_groups?: RawNodeGroup[]; slow_connect_ms?: number; slos?: RawSlo[];
}
interface RawCatalogue { node_groups?: RawNodeGroup[]; services: RawService[] }

function nodeGroup(g: RawNodeGroup): NodeGroupSpec {
  const spec: NodeGroupSpec = { name: g.name, hosts: (g.hosts ?? []).map(globToRegExp) };
  if (g.labels) spec.labels = g.labels;
  return spec;
}

function service(s: RawService, i: number, at: (path: Path, message: string) => void): ServiceSpec {
  const m = s.match;
  const cidrs: Cidr[] = [];
  (s.endpoints?.cidrs ?? []).forEach((c, j) => {
    try {
      cidrs.push(parseCidr(c));
    } catch (err) {
      at(['services', i, 'endpoints', 'cidrs', j], (err as Error).message);
    }
  });
  const latency = (s.slos ?? []).find((x) => x.type === 'latency');
  const spec: ServiceSpec = {
    name: s.name,
    match: {
      processNames: new Set(m.process_names ?? []),
      executables: new Set(m.executables ?? []),
      containers: new Set(m.containers ?? []),
      cgroupIds: new Set(m.cgroup_ids ?? []),
      listenPorts: new Set(m.listen_ports ?? []),
      hosts: (m.hosts ?? []).map(globToRegExp),
      nodeGroups: new Set(m.node_groups ?? []),
      hasIdentity: [m.process_names, m.executables, m.containers, m.cgroup_ids, m.listen_ports].some((x) => x && x.length > 0),
    },
    dependencies: s.dependencies ?? [],
    dependencyDomains: s.dependency_domains ?? [],
    nodeGroups: (s.node_groups ?? []).map(nodeGroup),
    slowConnectMs: s.slow_connect_ms ?? latency?.threshold_ms ?? DEFAULT_SLOW_CONNECT_MS,
    slos: (s.slos ?? []).map((x) => {
      const period = x.period ?? DEFAULT_PERIOD;
      const slo: SloSpec = {
        name: x.name,
        type: x.type,
        objective: x.objective,
        budget: 1 - x.objective / 100,
        period,
        periodMs: durationMs(period),
        goodStates: new Set(x.good_states ?? DEFAULT_GOOD_STATES),
        direction: x.direction ?? 'any',
        minEvents: x.min_events ?? DEFAULT_MIN_EVENTS,
      };
      if (x.threshold_ms !== undefined) slo.thresholdMs = x.threshold_ms;
      return slo;
    }),
  };
  if (s.owner !== undefined) spec.owner = s.owner;
  if (s.environment !== undefined) spec.environment = s.environment;
  if (cidrs.length > 0) spec.endpoints = { cidrs, ports: new Set(s.endpoints?.ports ?? []) };
  return spec;
}

const ref = (s: ServiceSpec): ServiceRef => {
  const r: ServiceRef = { name: s.name };
  if (s.owner !== undefined) r.owner = s.owner;
  if (s.environment !== undefined) r.environment = s.environment;
  if (s.dependencyDomains.length > 0) r.dependencyDomains = s.dependencyDomains;
  return r;
};

function groupMatches(g: NodeGroupSpec, hostName: string, labels?: Record<string, string>): boolean {
  if (g.hosts.some((re) => re.test(hostName))) return true;
  if (g.labels && labels) return Object.entries(g.labels).every(([k, v]) => labels[k] === v);
  return false;
}

/** The catalogue's node group for a host: first group whose host pattern or labels match. */
export function nodeGroupOf(cat: Catalogue, hostName: string, labels?: Record<string, string>): string | undefined {
  return cat.nodeGroups.find((g) => groupMatches(g, hostName, labels))?.name;
}

/**
 * The node group a document belongs to. The agent's own node_group (set from
 * its config on the host) wins, because the host knows where it runs better
 * than a name pattern; the catalogue fills the gap for agents without one.
 */
export function docNodeGroup(cat: Catalogue, doc: ConnectionDoc): string | undefined {
  return doc.connaudit.node_group ?? nodeGroupOf(cat, doc.host.name, doc.labels);
}

function serviceMatches(s: ServiceSpec, cat: Catalogue, doc: ConnectionDoc): boolean {
  const m = s.match;
  if (m.hosts.length > 0 && !m.hosts.some((re) => re.test(doc.host.name))) return false;
  if (m.nodeGroups.size > 0) {
    const g = docNodeGroup(cat, doc);
    if (g === undefined || !m.nodeGroups.has(g)) return false;
  }
  if (!m.hasIdentity) return true;
  const p = doc.process;
  if (p?.name !== undefined && m.processNames.has(p.name)) return true;
  if (p?.executable !== undefined && m.executables.has(p.executable)) return true;
  if (doc.container?.id !== undefined && m.containers.has(doc.container.id)) return true;
  if (doc.connaudit.cgroup_id !== undefined && m.cgroupIds.has(doc.connaudit.cgroup_id)) return true;
  // An accepted connection belongs to the service listening on its destination port.
  return doc.network.direction === 'ingress' && m.listenPorts.has(doc.destination.port);
}

/** The service that owns this connection (the caller for egress, the listener for ingress). */
export function matchService(cat: Catalogue, doc: ConnectionDoc): ServiceRef | undefined {
  const s = cat.services.find((x) => serviceMatches(x, cat, doc));
  return s ? ref(s) : undefined;
}

/** The full spec of the owning service, for the SLO stage. */
export function findService(cat: Catalogue, doc: ConnectionDoc): ServiceSpec | undefined {
  return cat.services.find((x) => serviceMatches(x, cat, doc));
}

/** The upstream this connection calls, recognised by its destination CIDR (and port). */
export function matchDestinationService(cat: Catalogue, doc: ConnectionDoc): ServiceRef | undefined {
  const s = cat.services.find((x) => {
    const e = x.endpoints;
    if (!e) return false;
    if (e.ports.size > 0 && !e.ports.has(doc.destination.port)) return false;
    return e.cidrs.some((c) => cidrContains(c, doc.destination.ip));
  });
  return s ? ref(s) : undefined;
}

export function serviceByName(cat: Catalogue, name: string): ServiceSpec | undefined {
  return cat.services.find((s) => s.name === name);
}

