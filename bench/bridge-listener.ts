/**
 * Child process for the bridge bench: a pgpulse listener measuring
 * commit-to-delivery latency (now − inserted_at, which the publisher sets at
 * broadcast time). Write `report` on stdin to get `report {json}` and reset.
 */
import { createInterface } from 'node:readline';
import { createListener } from '../dist/listen/index.js';
import { percentile } from './lib/percentiles.js';

const listener = createListener({ connectionString: process.argv[2]! });
let latencies: number[] = [];
listener.pubsub.subscribe(({ event }) => {
  latencies.push(Date.now() - event.inserted_at.getTime());
});
await listener.start();
console.log('ready');
for await (const line of createInterface({ input: process.stdin })) {
  if (line === 'report') {
    console.log(`report ${JSON.stringify({ count: latencies.length, p50: percentile(latencies, 50), p99: percentile(latencies, 99), stats: listener.stats })}`);
    latencies = [];
  }
}
await listener.close();
