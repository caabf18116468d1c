import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { closeServer, listen } from './http.js';

/** One request a {@link WebhookReceiver} got. */
export interface ReceivedWebhook {
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
  /** The status it was answered. */
  status: number;
}

/**
 * A real local webhook receiver (node:http). `answer` picks each request's
 * status (default 200); every request is kept in `received`.
 */
export interface WebhookReceiver {
  url: string;
  received: ReceivedWebhook[];
  /** Requests answered 2xx, bodies parsed as JSON. */
  accepted(): unknown[];
  answer: (request: { path: string; headers: IncomingHttpHeaders; body: string; index: number }) => number;
  close(): Promise<void>;
}

export async function startWebhookReceiver(): Promise<WebhookReceiver> {
  const receiver: WebhookReceiver = {
    url: '',
    received: [],
    accepted: () => receiver.received.filter((r) => r.status >= 200 && r.status < 300).map((r) => JSON.parse(r.body) as unknown),
    answer: () => 200,
    close: () => closeServer(server),
  };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const request = { path: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString() };
      const status = receiver.answer({ ...request, index: receiver.received.length });
      receiver.received.push({ ...request, status });
      res.writeHead(status).end();
    });
  });
  receiver.url = await listen(server);
  return receiver;
}
