// `connaudit kibana import`: posts the saved objects to Kibana's
// POST /api/saved_objects/_import (multipart form, one part named `file`
// holding the NDJSON, `kbn-xsrf` header required) and turns Kibana's answer
// into one line per object, so a refused object is never lost in a summary.

export interface KibanaAuth {
  apiKey?: string;
  username?: string;
  password?: string;
}

export interface ImportRequest {
  url: string;
  space?: string;
  overwrite: boolean;
  auth: KibanaAuth;
  ndjson: string;
}

/** Credentials from the environment (never from flags: those show in `ps` and shell history). */
export function kibanaAuthFromEnv(env: NodeJS.ProcessEnv = process.env): KibanaAuth {
  if (env.KIBANA_API_KEY) return { apiKey: env.KIBANA_API_KEY };
  if (env.KIBANA_USERNAME) return { username: env.KIBANA_USERNAME, password: env.KIBANA_PASSWORD ?? '' };
  return {};
}

export function importUrl(base: string, space: string | undefined, overwrite: boolean): string {
  let u: URL;
  try {
    u = new URL(base);
  } catch {
    throw new Error(`--url ${base} is not a URL; give Kibana's base URL, e.g. https://kibana.example:5601`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error(`--url ${base}: Kibana is reached over http or https`);
  const prefix = u.pathname.replace(/\/+$/, '');
  const spacePart = space && space !== 'default' ? `/s/${encodeURIComponent(space)}` : '';
  u.pathname = `${prefix}${spacePart}/api/saved_objects/_import`;
  u.search = overwrite ? '?overwrite=true' : '';
  return u.toString();
}

export function authHeader(a: KibanaAuth): string | undefined {
  if (a.apiKey) return `ApiKey ${a.apiKey}`;
  if (a.username !== undefined) return `Basic ${Buffer.from(`${a.username}:${a.password ?? ''}`).toString('base64')}`;
  return undefined;
}

export interface ImportResponse {
  success: boolean;
  successCount: number;
  successResults?: Array<{ type: string; id: string; destinationId?: string; meta?: { title?: string } }>;
  errors?: Array<{ type: string; id: string; title?: string; meta?: { title?: string }; error: { type: string; [k: string]: unknown } }>;
}

export interface ObjectResult {
  type: string;
  id: string;
  title: string;
  ok: boolean;
  detail: string;
}

/** One result per object we sent, in our order; an object Kibana did not mention at all is a failure too. */
export function objectResults(sent: Array<{ type: string; id: string; title: string }>, res: ImportResponse): ObjectResult[] {
  const key = (t: string, id: string) => `${t}/${id}`;
  const ok = new Map((res.successResults ?? []).map((r) => [key(r.type, r.id), r]));
  const bad = new Map((res.errors ?? []).map((e) => [key(e.type, e.id), e]));
  return sent.map((o) => {
    const s = ok.get(key(o.type, o.id));
    if (s) return { ...o, ok: true, detail: s.destinationId && s.destinationId !== o.id ? `imported as ${s.destinationId}` : 'imported' };
    const e = bad.get(key(o.type, o.id));
    if (e) {
      const { type, ...rest } = e.error;
      const extra = Object.keys(rest).length ? ` ${JSON.stringify(rest)}` : '';
      return { ...o, ok: false, detail: `${type}${extra}` };
    }
    return { ...o, ok: false, detail: 'not in Kibana\'s answer' };
  });
}

export async function postImport(req: ImportRequest, fetchImpl: typeof fetch = fetch): Promise<{ status: number; body: ImportResponse | string }> {
  const form = new FormData();
  form.append('file', new Blob([req.ndjson], { type: 'application/ndjson' }), 'connaudit.ndjson');
  const headers: Record<string, string> = { 'kbn-xsrf': 'connaudit' };
  const auth = authHeader(req.auth);
  if (auth) headers.authorization = auth;
  const res = await fetchImpl(importUrl(req.url, req.space, req.overwrite), { method: 'POST', headers, body: form });
  const text = await res.text();
  try {
    return { status: res.status, body: JSON.parse(text) as ImportResponse };
  } catch {
    return { status: res.status, body: text };
  }
}
