import type { Logger } from '../lib/log.js';

// Waiting for Kafka and Elasticsearch at start. A pipeline started with the
// host (systemd, a container) often comes up before its clusters do; exiting
// at once would leave nothing indexed until someone restarts it. It waits with
// backoff instead, and says which service it waits for, where, and why.

export interface WaitOptions {
  log: Logger;
  signal?: AbortSignal;
  /** First delay; doubles up to maxDelayMs. */
  baseDelayMs?: number;
  maxDelayMs?: number;
  /** Give up after this long (default: never, until the signal aborts). */
  timeoutMs?: number;
  /** Set while waiting (the /healthz detail and the waiting_for gauge). */
  onWaiting?: (waiting: boolean, lastError?: string) => void;
}

export class StartAborted extends Error {
  constructor(readonly service: string) {
    super(`stopped while waiting for ${service}`);
    this.name = 'StartAborted';
  }
}

export class ServiceUnreachable extends Error {
  constructor(readonly service: string, readonly where: string, readonly lastError: string, readonly waitedMs: number) {
    super(`${service} at ${where} is not reachable after ${Math.round(waitedMs / 1000)} s: ${lastError}`);
    this.name = 'ServiceUnreachable';
  }
}

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });

/** Runs `probe` until it resolves; logs each failure as "waiting for <service> at <where>". */
export async function waitFor<T>(service: string, where: string, probe: () => Promise<T>, o: WaitOptions): Promise<T> {
  const base = o.baseDelayMs ?? 1000;
  const max = o.maxDelayMs ?? 30_000;
  const started = Date.now();
  for (let attempt = 1; ; attempt++) {
    if (o.signal?.aborted) throw new StartAborted(service);
    try {
      const r = await probe();
      if (attempt > 1) o.log.info({ service, where, attempts: attempt, waitedS: Math.round((Date.now() - started) / 1000) }, `${service} is reachable; starting`);
      o.onWaiting?.(false);
      return r;
    } catch (err) {
      const msg = (err as Error).message;
      const waited = Date.now() - started;
      if (o.timeoutMs !== undefined && waited >= o.timeoutMs) throw new ServiceUnreachable(service, where, msg, waited);
      const delay = Math.min(max, base * 2 ** (attempt - 1));
      o.onWaiting?.(true, msg);
      o.log.warn({ service, where, attempt, err: msg, retryInS: delay / 1000 }, `waiting for ${service} at ${where}: ${msg}; retrying in ${delay / 1000} s`);
      await sleep(delay, o.signal);
    }
  }
}
