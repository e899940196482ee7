import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Registry, collectDefaultMetrics } from 'prom-client';

// One Prometheus registry per process and one small HTTP listener for it.
// The agent and the pipeline each register their own metrics (named in their
// own modules, prefixed `connaudit_`) on the registry they get here; both
// serve /metrics and /healthz the same way. The listener binds to loopback by
// default: these figures describe the fleet, so exposing them is an operator
// decision (set `host` to 0.0.0.0 explicitly).

export interface Health {
  ok: boolean;
  /** Short facts an operator needs when ok is false (what is waited for, what failed). */
  detail?: Record<string, unknown>;
}

export interface AdminServerOptions {
  port: number;
  host?: string;
  registry: Registry;
  health: () => Health;
}

export function createRegistry(component: 'agent' | 'pipeline'): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ component });
  collectDefaultMetrics({ register: registry, prefix: 'connaudit_process_' });
  return registry;
}

export interface AdminServer {
  /** The bound port (useful with port 0 in tests). */
  port: number;
  close(): Promise<void>;
}

export async function startAdminServer(o: AdminServerOptions): Promise<AdminServer> {
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET') {
      res.writeHead(405, { allow: 'GET' }).end();
      return;
    }
    if (path === '/metrics') {
      o.registry.metrics().then(
        (body) => res.writeHead(200, { 'content-type': o.registry.contentType }).end(body),
        (err: Error) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`metrics failed: ${err.message}\n`),
      );
      return;
    }
    if (path === '/healthz') {
      const h = o.health();
      res.writeHead(h.ok ? 200 : 503, { 'content-type': 'application/json' }).end(JSON.stringify(h));
      return;
    }
    res.writeHead(404, { 'content-type': 'text/plain' }).end('try /metrics or /healthz\n');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, o.host ?? '127.0.0.1', () => resolve());
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
