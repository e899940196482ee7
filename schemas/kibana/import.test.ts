import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { main } from '../../cli/main.js';
import { importUrl, objectResults } from './import.js';
import { savedObjects, toNdjson } from './saved-objects.js';

// The request `connaudit kibana import` sends, checked against a local HTTP
// server standing in for Kibana: method, path, query, kbn-xsrf, auth, and a
// multipart body whose `file` part is exactly the NDJSON export.

interface Got {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  parts: Array<{ name: string; filename?: string; body: string }>;
}

function parseMultipart(contentType: string, body: Buffer): Got['parts'] {
  const boundary = /boundary=(?:"([^"]+)"|([^;]+))/.exec(contentType);
  if (!boundary) throw new Error(`no multipart boundary in ${contentType}`);
  const b = `--${boundary[1] ?? boundary[2]}`;
  return body.toString('utf8').split(b).slice(1, -1).map((chunk) => {
    const [head, ...rest] = chunk.replace(/^\r\n/, '').split('\r\n\r\n');
    const disp = /name="([^"]+)"(?:; filename="([^"]+)")?/.exec(head!);
    return { name: disp?.[1] ?? '', filename: disp?.[2], body: rest.join('\r\n\r\n').replace(/\r\n$/, '') };
  });
}

let got: Got[] = [];
let answer: (g: Got) => { status: number; body: unknown } = () => ({ status: 200, body: {} });
let server: Server;
let base: string;

beforeAll(async () => {
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const g: Got = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, parts: parseMultipart(String(req.headers['content-type']), Buffer.concat(chunks)) };
      got.push(g);
      const a = answer(g);
      res.statusCode = a.status;
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify(a.body));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise((r) => server.close(r)));
afterEach(() => {
  got = [];
  vi.unstubAllEnvs();
  vi.restoreAllMocks();
});

async function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  vi.spyOn(process.stdout, 'write').mockImplementation((c) => { stdout += String(c); return true; });
  vi.spyOn(process.stderr, 'write').mockImplementation((c) => { stderr += String(c); return true; });
  const code = await main(args);
  vi.restoreAllMocks();
  return { code, stdout, stderr };
}

const all = savedObjects();
const success = () => ({ status: 200, body: { success: true, successCount: all.length, successResults: all.map((o) => ({ type: o.type, id: o.id, meta: { title: o.attributes.title } })) } });

describe('connaudit kibana import', () => {
  it('POSTs the NDJSON as the multipart `file` part to /api/saved_objects/_import with kbn-xsrf and the API key', async () => {
    vi.stubEnv('KIBANA_API_KEY', 'aWQ6a2V5');
    answer = success;
    const r = await cli(['kibana', 'import', '--url', `${base}/`]);
    expect(r.code, r.stderr).toBe(0);
    expect(got).toHaveLength(1);
    const g = got[0]!;
    expect(g.method).toBe('POST');
    expect(g.url).toBe('/api/saved_objects/_import?overwrite=true');
    expect(g.headers['kbn-xsrf']).toBeTruthy();
    expect(g.headers.authorization).toBe('ApiKey aWQ6a2V5');
    expect(g.headers['content-type']).toMatch(/^multipart\/form-data; boundary=/);
    expect(g.parts).toHaveLength(1);
    expect(g.parts[0]).toMatchObject({ name: 'file', filename: 'connaudit.ndjson' });
    expect(g.parts[0]!.body).toBe(toNdjson(all));
    // One line per object, then the tally.
    expect(r.stdout.trim().split('\n')).toHaveLength(all.length + 1);
    expect(r.stdout).toContain(`${all.length} imported, 0 failed`);
  });

  it('uses basic auth and a space path when asked, and can keep existing objects', async () => {
    vi.stubEnv('KIBANA_API_KEY', '');
    vi.stubEnv('KIBANA_USERNAME', 'analyst');
    vi.stubEnv('KIBANA_PASSWORD', 's3cret');
    answer = success;
    const r = await cli(['kibana', 'import', '--url', `${base}/kibana`, '--space', 'sec ops', '--no-overwrite']);
    expect(r.code, r.stderr).toBe(0);
    expect(got[0]!.url).toBe('/kibana/s/sec%20ops/api/saved_objects/_import');
    expect(got[0]!.headers.authorization).toBe(`Basic ${Buffer.from('analyst:s3cret').toString('base64')}`);
    expect(r.stdout + r.stderr).not.toContain('s3cret');
  });

  it('reports each refused object with Kibana\'s reason and exits 1; an object Kibana did not mention counts as failed', async () => {
    const [first, second, ...rest] = all;
    answer = () => ({ status: 200, body: {
      success: false,
      successCount: rest.length - 1,
      successResults: rest.slice(1).map((o) => ({ type: o.type, id: o.id })),
      errors: [
        { type: first!.type, id: first!.id, error: { type: 'conflict' } },
        { type: second!.type, id: second!.id, error: { type: 'missing_references', references: [{ type: 'index-pattern', id: 'x' }] } },
      ],
    } });
    const r = await cli(['kibana', 'import', '--url', base]);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(new RegExp(`FAILED ${first!.type}\\s+${first!.id}\\s+conflict`));
    expect(r.stdout).toMatch(new RegExp(`FAILED ${second!.type}\\s+${second!.id}\\s+missing_references`));
    expect(r.stdout).toMatch(new RegExp(`FAILED ${rest[0]!.type}\\s+${rest[0]!.id}\\s+not in Kibana's answer`));
    expect(r.stdout).toContain(`${all.length - 3} imported, 3 failed`);
  });

  it('turns 401 into an error that says which variables to set', async () => {
    answer = () => ({ status: 401, body: { statusCode: 401, error: 'Unauthorized' } });
    const r = await cli(['kibana', 'import', '--url', base]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/refused the import \(401\)/);
    expect(r.stderr).toMatch(/KIBANA_API_KEY/);
  });

  it('refuses a missing or malformed --url', async () => {
    expect((await cli(['kibana', 'import'])).stderr).toMatch(/--url is required/);
    expect(() => importUrl('kibana:5601', undefined, true)).toThrow(/http or https/);
    expect(() => importUrl('not a url', undefined, true)).toThrow(/not a URL/);
  });

  it('maps results back to our objects by type and id, noting a changed destination id', () => {
    const r = objectResults([{ type: 'lens', id: 'a', title: 'A' }], { success: true, successCount: 1, successResults: [{ type: 'lens', id: 'a', destinationId: 'b' }] });
    expect(r).toEqual([{ type: 'lens', id: 'a', title: 'A', ok: true, detail: 'imported as b' }]);
  });
});
