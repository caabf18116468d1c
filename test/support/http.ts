import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** Listens on 127.0.0.1 and returns the base URL. */
export async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** Closes a server and its keep-alive connections. */
export async function closeServer(server: Server): Promise<void> {
  server.closeAllConnections?.();
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

/**
 * Sends `paths.length` GET requests with `concurrency` in flight; returns the
 * status of each, in order.
 */
export async function hammer(base: string, paths: string[], concurrency = 20, headers: (i: number) => Record<string, string> = () => ({})): Promise<number[]> {
  const statuses = new Array<number>(paths.length);
  let next = 0;
  const worker = async () => {
    while (next < paths.length) {
      const i = next++;
      const response = await fetch(base + paths[i]!, { headers: headers(i) });
      await response.arrayBuffer();
      statuses[i] = response.status;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return statuses;
}

/**
 * One request over a fresh connection (optionally from a given loopback
 * address, with a body); resolves with status and body. `https:` URLs accept
 * any certificate (the tests' own self-signed ones).
 */
export function send(
  url: string,
  options: { method?: string; headers?: Record<string, string>; localAddress?: string; body?: string } = {},
): Promise<{ status: number; headers: import('node:http').IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const request = (url.startsWith('https:') ? httpsRequest : httpRequest)(
      url,
      { method: options.method ?? 'GET', headers: options.headers, localAddress: options.localAddress, agent: false, rejectUnauthorized: false },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () => resolve({ status: response.statusCode ?? 0, headers: response.headers, body: Buffer.concat(chunks).toString() }));
        response.on('error', reject);
      },
    );
    request.on('error', reject);
    request.end(options.body);
  });
}

/** Sends a request and destroys the connection once `ready` resolves (the handler is running): a client abort. */
export async function abortAfter(url: string, ready: Promise<void>, headers: Record<string, string> = {}): Promise<void> {
  const request = httpRequest(url, { headers, agent: false });
  const closed = new Promise<void>((resolve) => request.once('close', () => resolve()));
  request.on('error', () => undefined);
  request.end();
  await ready;
  request.destroy();
  await closed;
}
