import { Client, type ClientOptions } from '@elastic/elasticsearch';

// Health and identity of an Elasticsearch cluster. The integ-test-zip has no
// rest-root module, so `GET /` (client.info() / client.ping()) answers 405
// there; the version comes from the nodes-info API instead.

export interface EsProbe {
  ok: boolean;
  status?: 'green' | 'yellow' | 'red' | string;
  version?: string;
  jvm?: string;
  clusterName?: string;
  httpStatus?: number;
  error?: string;
}

/** A client for probing: one attempt, short timeout; the caller's loop does the waiting. */
export function probeClient(opts: ClientOptions): Client {
  return new Client({ ...opts, maxRetries: 0, requestTimeout: 5_000 });
}

export async function probeEs(opts: ClientOptions, waitForYellowMs = 1000): Promise<EsProbe> {
  const client = probeClient(opts);
  try {
    const h = await client.cluster.health({ wait_for_status: 'yellow', timeout: `${waitForYellowMs}ms` });
    const ok = h.status === 'green' || h.status === 'yellow';
    const out: EsProbe = { ok, status: h.status, clusterName: h.cluster_name };
    try {
      const info = await client.nodes.info({ node_id: '_local', metric: 'jvm' });
      const node = Object.values(info.nodes)[0];
      out.version = node?.version;
      out.jvm = node?.jvm?.version;
    } catch {
      // Restricted credentials may allow health but not nodes-info; health is what matters.
    }
    return out;
  } catch (err) {
    const e = err as Error & { meta?: { statusCode?: number } };
    return { ok: false, httpStatus: e.meta?.statusCode, error: e.message };
  } finally {
    await client.close();
  }
}
