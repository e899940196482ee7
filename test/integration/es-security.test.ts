import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, errors } from '@elastic/elasticsearch';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeEndpoints, esClientOptions } from '../../lib/connect.js';
import { makeTestCa } from '../helpers/test-ca.js';
import { startElasticsearch, stopElasticsearch, type EsInstance } from '../../services/elasticsearch.js';
import { fetchElasticsearch } from '../../services/fetch.js';
import { esHome, esRunBase } from '../../services/layout.js';

// The default local node runs with security off. This proves that the same
// distribution, started through the same code path as `services up` but with
// x-pack security and HTTPS on (a CA made by the test), really enforces basic
// auth and API keys, and that lib/connect.ts's esClientOptions() connects over
// TLS (ES_CA_CERT) and authenticates with both. It uses its own ports and
// instance dir, so the default node on 9200 is never touched.

const DIR = join(esRunBase, 'es-security-test');
const CLUSTER = 'connaudit-sectest';
const HTTP_PORT = 9201;
const URL_ = `https://127.0.0.1:${HTTP_PORT}`;
const pki = mkdtempSync(join(tmpdir(), 'es-security-pki-'));
const ca = makeTestCa(pki, 'es.connaudit.test', '127.0.0.1');
const USER = 'connaudit_sectest';
const PASSWORD = randomBytes(12).toString('base64url');

/** The HTTP status of a failed request, or 'ok' when it did not fail. */
async function statusOf(p: Promise<unknown>): Promise<number | 'ok'> {
  try {
    await p;
    return 'ok';
  } catch (err) {
    if (err instanceof errors.ResponseError) return err.statusCode ?? -1;
    throw err;
  }
}

const clientFor = (env: NodeJS.ProcessEnv) => new Client({ ...esClientOptions({ ES_CA_CERT: ca.ca, ...env }), maxRetries: 0 });

describe('Elasticsearch with x-pack security (second instance on 9201)', () => {
  let inst: EsInstance;

  beforeAll(async () => {
    await fetchElasticsearch();
    rmSync(DIR, { recursive: true, force: true });
    inst = await startElasticsearch({
      dir: DIR, httpPort: HTTP_PORT, transportPort: 9301, security: true, clusterName: CLUSTER, heapMb: 512, timeoutMs: 180_000,
      users: [{ username: USER, password: PASSWORD, roles: ['superuser'] }],
      httpTls: { certificate: ca.serverCert, key: ca.serverKey, ca: ca.ca },
    }, 'es-security-test');
  }, 240_000);

  afterAll(async () => {
    await stopElasticsearch(DIR, CLUSTER, 30_000, 'es-security-test');
    rmSync(DIR, { recursive: true, force: true });
    rmSync(pki, { recursive: true, force: true });
  }, 60_000);

  it('serves HTTPS only: a client that does not trust the CA is refused before any credential is sent', async () => {
    expect(inst.url).toBe(URL_);
    const untrusting = new Client({ ...esClientOptions({ ES_URL: URL_, ES_USERNAME: USER, ES_PASSWORD: PASSWORD }), maxRetries: 0 });
    await expect(untrusting.cluster.health()).rejects.toThrow(/self[- ]signed certificate|unable to verify|unable to get local issuer/);
    await expect(clientFor({ ES_URL: URL_.replace('https:', 'http:'), ES_USERNAME: USER, ES_PASSWORD: PASSWORD }).cluster.health()).rejects.toThrow();
  });

  it('accepts credentials inside ES_URL over TLS, and the log description says so without the password', async () => {
    const env = { ES_URL: `https://${USER}:${PASSWORD}@127.0.0.1:${HTTP_PORT}` };
    const me = await clientFor(env).security.authenticate();
    expect(me.username).toBe(USER);
    const d = describeEndpoints(env);
    expect(d).toMatchObject({ esAuth: 'basic_in_url', esTls: true, elasticsearch: URL_ });
    expect(JSON.stringify(d)).not.toContain(PASSWORD);
  });

  it('the integ-test-zip ships the x-pack-security module (see services/ES_CAPABILITIES.md)', () => {
    expect(existsSync(join(esHome, 'modules', 'x-pack-security'))).toBe(true);
    expect(inst.alreadyRunning).toBe(false);
  });

  it('rejects a request without credentials with 401', async () => {
    expect(await statusOf(clientFor({ ES_URL: URL_ }).cluster.health())).toBe(401);
  });

  it('accepts basic auth from ES_USERNAME/ES_PASSWORD and names the file realm', async () => {
    const es = clientFor({ ES_URL: URL_, ES_USERNAME: USER, ES_PASSWORD: PASSWORD });
    const me = await es.security.authenticate();
    expect(me.username).toBe(USER);
    expect(me.authentication_realm.type).toBe('file');
    expect(['green', 'yellow']).toContain((await es.cluster.health()).status);
  });

  it('rejects a wrong password with 401', async () => {
    const es = clientFor({ ES_URL: URL_, ES_USERNAME: USER, ES_PASSWORD: `${PASSWORD}x` });
    expect(await statusOf(es.security.authenticate())).toBe(401);
  });

  it('accepts an API key from ES_API_KEY, and rejects it once invalidated', async () => {
    const admin = clientFor({ ES_URL: URL_, ES_USERNAME: USER, ES_PASSWORD: PASSWORD });
    const key = await admin.security.createApiKey({ name: 'connaudit-sectest', expiration: '1h' });
    expect(key.encoded).toBe(Buffer.from(`${key.id}:${key.api_key}`).toString('base64'));

    const viaKey = clientFor({ ES_URL: URL_, ES_API_KEY: key.encoded });
    const me = await viaKey.security.authenticate();
    expect(me.authentication_type).toBe('api_key');
    expect(me.api_key?.id).toBe(key.id);
    // Real work with the key, not just whoami: index a document and read it back.
    await viaKey.index({ index: 'connaudit-sectest', id: 'k1', document: { ok: true }, refresh: true });
    expect((await viaKey.get<{ ok: boolean }>({ index: 'connaudit-sectest', id: 'k1' }))._source).toEqual({ ok: true });

    const inv = await admin.security.invalidateApiKey({ ids: [key.id] });
    expect(inv.invalidated_api_keys).toEqual([key.id]);
    expect(await statusOf(viaKey.security.authenticate())).toBe(401);
  });

  it('rejects a well-formed API key that was never issued', async () => {
    const fake = Buffer.from(`${randomBytes(15).toString('base64url')}:${randomBytes(16).toString('base64url')}`).toString('base64');
    expect(await statusOf(clientFor({ ES_URL: URL_, ES_API_KEY: fake }).security.authenticate())).toBe(401);
  });
});
