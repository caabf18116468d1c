/**
 * Child process for the fleet bench: one pgpulse listener on the transport
 * given (`notify` or `wal`) measuring add-to-delivery latency (now −
 * inserted_at, which the bench sets when it hands the row to the writer).
 * Prints `ready` once started; write `report` on stdin to get
 * `report {json}` (all samples since the last `reset`), `reset <node id>` to clear them
 * and count only rows of that node id from then on.
 *
 *   node --import tsx bench/fleet/listener-child.ts <url> <notify|wal>
 */
import { createInterface } from 'node:readline';
import { createListener } from '../../dist/listen/index.js';
import { percentile } from '../lib/percentiles.js';

const transport = process.argv[3] === 'wal' ? 'wal' : 'notify';
const listener = createListener({ connectionString: process.argv[2]!, transport });
let latencies: number[] = [];
// After `reset <node id>`, only rows of that node id count (warm-up rows still in flight do not).
let nodeId: string | undefined;
let ids = new Set<string>();
listener.pubsub.subscribe(({ event }) => {
  const insertedAt = new Date(event.inserted_at).getTime();
  if (nodeId !== undefined && event.node_id !== nodeId) return;
  latencies.push(Date.now() - insertedAt);
  ids.add(String(event.id));
});
await listener.start();
console.log('ready');
for await (const line of createInterface({ input: process.stdin })) {
  if (line === 'report') {
    console.log(`report ${JSON.stringify({ count: latencies.length, unique: ids.size, p50: percentile(latencies, 50), p99: percentile(latencies, 99) })}`);
  } else if (line.startsWith('reset')) {
    nodeId = line.split(' ')[1];
    latencies = [];
    ids = new Set();
    console.log('reset');
  }
}
await listener.close();
