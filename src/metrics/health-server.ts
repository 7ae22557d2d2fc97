/**
 * The small HTTP server a stage worker runs beside its Kafka loop, for Prometheus and the
 * kubelet: `GET /metrics` (Prometheus text), `GET /healthz` (liveness: is the process's loop
 * healthy?) and `GET /readyz` (readiness: joined its consumer group, broker and LLM reachable).
 * Plain node:http: three fixed routes do not justify a web framework.
 *
 * Liveness and readiness are kept apart on purpose: an LLM outage makes a worker unready (it
 * pauses consumption and Kubernetes stops counting it as available) but must not make it
 * "dead", or the kubelet would restart every pod of the stage in a loop during the outage.
 */
import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebscaleError } from '../core/errors.js';
import type { WebscaleMetrics } from './metrics.js';

export interface ReadinessReport {
  ready: boolean;
  /** One entry per check: true when it passes, false or a short reason when it does not. */
  checks: Record<string, boolean | string>;
}

export interface HealthServerOptions {
  /** TCP port; 0 picks a free one (read it back from `HealthServer.port`). */
  port: number;
  /** Interface to bind; default all interfaces ('0.0.0.0'), as a pod needs for probes. */
  host?: string;
  metrics: Pick<WebscaleMetrics, 'registry'>;
  isAlive(): boolean;
  isReady(): Promise<ReadinessReport>;
  /** A readiness check that has not answered after this long counts as not ready. Default 5000. */
  readinessTimeoutMs?: number;
}

export interface HealthServer {
  readonly port: number;
  readonly host: string;
  /** Base URL, e.g. `http://127.0.0.1:9464`. */
  readonly url: string;
  close(): Promise<void>;
}

const JSON_TYPE = 'application/json; charset=utf-8';

function send(res: ServerResponse, status: number, contentType: string, body: string, head: boolean): void {
  res.writeHead(status, {
    'content-type': contentType,
    'content-length': Buffer.byteLength(body),
    // Probes and scrapes must always see fresh state.
    'cache-control': 'no-store',
  });
  res.end(head ? undefined : body);
}

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

async function readiness(opts: HealthServerOptions): Promise<ReadinessReport> {
  const timeoutMs = opts.readinessTimeoutMs ?? 5000;
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<ReadinessReport>((resolve) => {
    timer = setTimeout(
      () => resolve({ ready: false, checks: { readiness: `no answer within ${timeoutMs} ms` } }),
      timeoutMs,
    );
  });
  try {
    return await Promise.race([
      opts.isReady().catch((err: unknown) => ({ ready: false, checks: { readiness: describe(err) } })),
      timeout,
    ]);
  } finally {
    clearTimeout(timer);
  }
}

async function handle(opts: HealthServerOptions, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const method = req.method ?? 'GET';
  const head = method === 'HEAD';
  const path = new URL(req.url ?? '/', 'http://localhost').pathname;
  const known = path === '/metrics' || path === '/healthz' || path === '/readyz';
  if (!known) {
    send(res, 404, JSON_TYPE, JSON.stringify({ error: 'not found', paths: ['/metrics', '/healthz', '/readyz'] }), head);
    return;
  }
  if (method !== 'GET' && !head) {
    res.setHeader('allow', 'GET, HEAD');
    send(res, 405, JSON_TYPE, JSON.stringify({ error: 'method not allowed' }), head);
    return;
  }
  switch (path) {
    case '/metrics': {
      const registry = opts.metrics.registry;
      send(res, 200, registry.contentType, await registry.metrics(), head);
      return;
    }
    case '/healthz': {
      let alive: boolean;
      try {
        alive = opts.isAlive();
      } catch {
        alive = false;
      }
      send(res, alive ? 200 : 503, JSON_TYPE, JSON.stringify({ alive }), head);
      return;
    }
    default: {
      const report = await readiness(opts);
      // Only the failing checks explain a 503; a 200 lists them all for whoever looks.
      const checks = report.ready
        ? report.checks
        : Object.fromEntries(Object.entries(report.checks).filter(([, v]) => v !== true));
      send(res, report.ready ? 200 : 503, JSON_TYPE, JSON.stringify({ ready: report.ready, checks }), head);
    }
  }
}

/** Start the server; resolves once it listens. */
export async function startHealthServer(opts: HealthServerOptions): Promise<HealthServer> {
  const host = opts.host ?? '0.0.0.0';
  const server = createServer((req, res) => {
    handle(opts, req, res).catch((err: unknown) => {
      if (!res.headersSent) send(res, 500, JSON_TYPE, JSON.stringify({ error: describe(err) }), false);
      else res.destroy();
    });
  });
  // A scrape or probe that never finishes its request must not pin a socket forever.
  server.requestTimeout = 30_000;
  server.headersTimeout = 10_000;

  await new Promise<void>((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException): void => {
      reject(
        new WebscaleError('CONFIG_INVALID', `cannot listen for metrics on ${host}:${opts.port}: ${err.message}`, {
          cause: err,
          context: { host, port: opts.port, errno: err.code },
        }),
      );
    };
    server.once('error', onError);
    server.listen(opts.port, host, () => {
      server.off('error', onError);
      resolve();
    });
  });

  const port = (server.address() as AddressInfo).port;
  const urlHost = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host;
  let closing: Promise<void> | undefined;
  return {
    port,
    host,
    url: `http://${urlHost}:${port}`,
    close() {
      closing ??= new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        // Keep-alive sockets of Prometheus would otherwise hold close() open until they time out.
        server.closeAllConnections();
      });
      return closing;
    },
  };
}
