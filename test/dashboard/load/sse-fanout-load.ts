// Load check (run by hand, prints figures):
//   node --import tsx test/dashboard/load/sse-fanout-load.ts [clients=200] [rowsPerSecond=2000] [seconds=20]
// The dashboard hub (no Postgres needed for the stream) publishes rows at the
// given rate; the SSE clients run in a child process so client parsing does not
// steal the server's event loop.
import { fork } from 'node:child_process';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { SseHub } from '../../../src/dashboard/sse-hub.js';
import { PubSub } from '../../../src/pubsub.js';
import { makeLog } from '../../support/fixtures.js';

const [clients = 200, rate = 2_000, seconds = 20] = process.argv.slice(2).map(Number);
const pubsub = new PubSub();
const hub = new SseHub(pubsub);
const server = createServer((req, res) => hub.attach(res, undefined));
server.maxConnections = 10_000;
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;

type Report = { open: number; received: number[]; latencies: number[] };
let last: Report = { open: 0, received: [], latencies: [] };
const latencies: number[] = [];
const child = fork(fileURLToPath(new URL('./sse-clients.ts', import.meta.url)), [url, String(clients)], { execArgv: ['--import', 'tsx'] });
child.on('message', (report: Report) => {
  last = report;
  latencies.push(...report.latencies);
});
while (hub.stats.clients < clients) await new Promise((r) => setTimeout(r, 100));

const template = makeLog({ user_agent: 'Mozilla/5.0 (Macintosh; Intel Mac OS X 14_0) AppleWebKit/605.1.15 Safari/605.1.15', referer: 'https://example.com/' });
const loop = monitorEventLoopDelay({ resolution: 10 });
loop.enable();
const cpu = process.cpuUsage();
const started = performance.now();
let published = 0;
// Publish in 10 ms ticks: rate/100 rows per tick.
while (performance.now() - started < seconds * 1000) {
  const due = Math.floor(((performance.now() - started) / 1000) * rate);
  for (; published < due; published++) pubsub.publish({ ...template, request_id: `r${published}`, path: `/load/${Date.now()}` });
  await new Promise((r) => setTimeout(r, 10));
}
const elapsed = (performance.now() - started) / 1000;
const used = process.cpuUsage(cpu);
loop.disable();
await new Promise((r) => setTimeout(r, 2_500));
latencies.sort((a, b) => a - b);
const q = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] ?? NaN;
const min = Math.min(...last.received);
const frameBytes = Buffer.byteLength(`id: 1\nevent: request\ndata: ${JSON.stringify(template)}\n\n`);
console.log(
  JSON.stringify(
    {
      clients,
      openClients: last.open,
      rowsPublished: published,
      rowsPerSecond: Math.round(published / elapsed),
      rowsPerClientMin: min,
      allClientsGotEveryRow: min === published,
      deliveredRowsPerSecond: Math.round((published * clients) / elapsed),
      approxMiBPerSecond: +((published * clients * frameBytes) / elapsed / 2 ** 20).toFixed(1),
      latencyMs: { p50: q(0.5), p95: q(0.95), p99: q(0.99), max: latencies.at(-1) },
      serverCpuPercentOfOneCore: Math.round(((used.user + used.system) / 1e6 / elapsed) * 100),
      serverEventLoopDelayP99Ms: +(loop.percentile(99) / 1e6).toFixed(1),
      serverRssMiB: Math.round(process.memoryUsage().rss / 2 ** 20),
      slowClientsDropped: hub.stats.slowClientsDropped,
    },
    null,
    2,
  ),
);
child.kill();
hub.close();
server.closeAllConnections();
server.close();
