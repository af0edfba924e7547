import { createServer, type Server } from 'node:http';
import type { Registry } from 'prom-client';

/** A page served beside `/metrics` (the operator console). */
export type PageRoute = () => Promise<{ status: number; headers: Record<string, string>; body: string }>;

/** Serves the registry at `/metrics` on its own port, separate from the pull endpoint, and `pages` beside it. */
export async function startMetricsServer(options: {
  registry: Registry;
  host: string;
  port: number;
  pages?: Record<string, PageRoute>;
}): Promise<{ port: number; close(): Promise<void> }> {
  const pages = new Map(Object.entries(options.pages ?? {}));
  const server: Server = createServer((request, response) => {
    const path = (request.url ?? '').split('?')[0] ?? '';
    const page = pages.get(path);
    if (request.method !== 'GET' || (path !== '/metrics' && page === undefined)) {
      response.writeHead(404).end();
      return;
    }
    if (page !== undefined) {
      page()
        .then(({ status, headers, body }) => response.writeHead(status, headers).end(body))
        .catch(() => response.writeHead(500).end());
      return;
    }
    options.registry
      .metrics()
      .then((text) => response.writeHead(200, { 'content-type': options.registry.contentType }).end(text))
      .catch(() => response.writeHead(500).end());
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => resolve());
  });
  const address = server.address();
  return {
    port: typeof address === 'object' && address !== null ? address.port : options.port,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
