// The Sigma field names connaudit can answer, and the connection-document
// field each becomes. Sigma's `network_connection` category uses Sysmon's
// network event names (Image, DestinationIp, Initiated, ...); the generic
// `firewall` category uses src_ip/dst_ip/src_port/dst_port. Only fields whose
// meaning a connaudit record really carries are mapped: anything else is
// reported as not convertible, because a silently dropped selection would make
// the converted rule match more than the Sigma rule does.

export type FieldKind =
  /** an address, compared as text or by CIDR */
  | 'ip'
  /** a port or pid: values must be whole numbers */
  | 'number'
  /** free text: paths, names */
  | 'text'
  /** Sysmon's Initiated: 'true' = this host opened the connection */
  | 'initiated'
  /** the transport: connaudit records TCP */
  | 'transport'
  /** the owner: connaudit records the numeric uid */
  | 'uid';

export interface FieldMapping {
  path: string;
  kind: FieldKind;
}

export const SIGMA_FIELDS: Readonly<Record<string, FieldMapping>> = {
  // network_connection (Sysmon event 3 names, also used by Sigma's Linux rules)
  DestinationIp: { path: 'destination.ip', kind: 'ip' },
  DestinationPort: { path: 'destination.port', kind: 'number' },
  SourceIp: { path: 'source.ip', kind: 'ip' },
  SourcePort: { path: 'source.port', kind: 'number' },
  Initiated: { path: 'network.direction', kind: 'initiated' },
  Image: { path: 'process.executable', kind: 'text' },
  User: { path: 'user.id', kind: 'uid' },
  Protocol: { path: 'network.transport', kind: 'transport' },
  ProcessId: { path: 'process.pid', kind: 'number' },
  // the observing host, mostly used in correlation group-by
  Computer: { path: 'host.name', kind: 'text' },
  ComputerName: { path: 'host.name', kind: 'text' },
  Hostname: { path: 'host.name', kind: 'text' },
  // firewall (Sigma's generic firewall taxonomy)
  src_ip: { path: 'source.ip', kind: 'ip' },
  dst_ip: { path: 'destination.ip', kind: 'ip' },
  src_port: { path: 'source.port', kind: 'number' },
  dst_port: { path: 'destination.port', kind: 'number' },
};

/** Fields Sigma rules use that connaudit cannot answer yet, with the reason given to the user. */
export const UNMAPPED_REASONS: Readonly<Record<string, string>> = {
  DestinationHostname: 'connaudit records carry no DNS names yet (DestinationHostname needs the DNS enrichment)',
  SourceHostname: 'connaudit records carry no DNS names for the source',
  ParentImage: 'connaudit records the parent process name (process.parent.name), not its executable path',
  CommandLine: 'connaudit records no command lines',
  ParentCommandLine: 'connaudit records no command lines',
  DestinationIsIpv6: 'use DestinationIp|cidr with an IPv6 range instead',
  SourceIsIpv6: 'use SourceIp|cidr with an IPv6 range instead',
  DestinationPortName: 'connaudit records port numbers, not service names',
  SourcePortName: 'connaudit records port numbers, not service names',
  action: 'connaudit records connections the kernel handled, not a firewall decision (allow/block)',
};

export function mappingHelp(): string {
  return Object.entries(SIGMA_FIELDS).map(([k, v]) => `${k} -> ${v.path}`).join(', ');
}
