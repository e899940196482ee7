import { Counter } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { createRegistry, startAdminServer, type AdminServer } from './metrics.js';

describe('admin server', () => {
  let server: AdminServer | undefined;
  afterEach(async () => { await server?.close(); server = undefined; });

  it('serves the registry on /metrics and the health verdict on /healthz', async () => {
    const registry = createRegistry('agent');
    const c = new Counter({ name: 'connaudit_test_records_total', help: 'test', registers: [registry] });
    c.inc(3);
    let ok = true;
    server = await startAdminServer({ port: 0, registry, health: () => ({ ok, detail: { waiting_for: ok ? undefined : 'kafka' } }) });
    const base = `http://127.0.0.1:${server.port}`;
    const metrics = await (await fetch(`${base}/metrics`)).text();
    expect(metrics).toContain('connaudit_test_records_total{component="agent"} 3');
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    ok = false;
    const res = await fetch(`${base}/healthz`);
    expect(res.status).toBe(503);
    expect(await res.json()).toEqual({ ok: false, detail: { waiting_for: 'kafka' } });
    expect((await fetch(`${base}/nope`)).status).toBe(404);
  });
});
