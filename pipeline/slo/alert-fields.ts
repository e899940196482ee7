import type { AlertDoc } from '../../lib/alert.js';
import type { ConnectionDoc } from '../../lib/ecs.js';

// Rules put their group-by values at ECS paths, nested or as dotted keys
// depending on who built the alert; read both so the SLO stage can find the
// service an alert is about.

export function alertField(alert: AlertDoc, path: string): unknown {
  const flat = (alert as Record<string, unknown>)[path];
  if (flat !== undefined) return flat;
  let cur: unknown = alert;
  for (const part of path.split('.')) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string, unknown>)[part];
  }
  return cur;
}

const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
const num = (v: unknown): number | undefined => (typeof v === 'number' ? v : typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : undefined);

export function alertEventIds(alert: AlertDoc): string[] {
  const ids = alert.connaudit?.alert?.event_ids;
  return Array.isArray(ids) ? ids.filter((x): x is string => typeof x === 'string') : [];
}

/** Just enough of a connection document for the catalogue's matchers. */
export function pseudoDocFromAlert(alert: AlertDoc): ConnectionDoc {
  const proc: NonNullable<ConnectionDoc['process']> = {};
  const pname = str(alertField(alert, 'process.name'));
  const pexe = str(alertField(alert, 'process.executable'));
  if (pname !== undefined) proc.name = pname;
  if (pexe !== undefined) proc.executable = pexe;
  const direction = str(alertField(alert, 'network.direction')) === 'ingress' ? 'ingress' : 'egress';
  const container = str(alertField(alert, 'container.id'));
  const doc = {
    '@timestamp': alert['@timestamp'],
    host: { name: str(alertField(alert, 'host.name')) ?? '' },
    source: { ip: str(alertField(alert, 'source.ip')) ?? '', port: num(alertField(alert, 'source.port')) ?? 0 },
    destination: { ip: str(alertField(alert, 'destination.ip')) ?? '', port: num(alertField(alert, 'destination.port')) ?? 0 },
    network: { direction },
    connaudit: { node_group: str(alertField(alert, 'connaudit.node_group')) },
    ...(Object.keys(proc).length > 0 ? { process: proc } : {}),
    ...(container ? { container: { id: container } } : {}),
  };
  if (doc.connaudit.node_group === undefined) delete (doc.connaudit as { node_group?: string }).node_group;
  return doc as unknown as ConnectionDoc;
}
