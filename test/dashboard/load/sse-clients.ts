// Child process of sse-fanout-load.ts: opens N SSE clients and reports, once a
// second, rows received per client and publish→receive latency samples.
import { get } from 'node:http';

const [url, countArg] = process.argv.slice(2);
const count = Number(countArg);
const received = new Array<number>(count).fill(0);
let latencies: number[] = [];
let open = 0;

for (let i = 0; i < count; i++) {
  get(url!, { agent: false }, (res) => {
    open++;
    res.setEncoding('utf8');
    res.on('data', (chunk: string) => {
      let at = chunk.indexOf('event: request');
      while (at >= 0) {
        received[i]!++;
        at = chunk.indexOf('event: request', at + 14);
      }
      // Sample the newest row of the chunk: its path carries the publish time.
      const m = /"path":"\/load\/(\d+)"[^\n]*\n\n$/.exec(chunk);
      if (m && i % 10 === 0) latencies.push(Date.now() - Number(m[1]));
    });
    res.on('close', () => open--);
  }).on('error', () => undefined);
}

setInterval(() => {
  process.send!({ open, received, latencies });
  latencies = [];
}, 1000);
process.on('disconnect', () => process.exit(0));
