import { PubSub } from '../dist/pubsub.js';
import { syntheticLog } from './lib/synthetic-log.js';

/** Events/s through the local PubSub with `subscribers` sync handlers (until all delivered). */
export async function benchFanout(subscribers: number, events: number): Promise<number> {
  const pubsub = new PubSub();
  let received = 0;
  const target = subscribers * events;
  let resolve!: () => void;
  const done = new Promise<void>((r) => (resolve = r));
  for (let s = 0; s < subscribers; s++) {
    pubsub.subscribe(
      () => {
        if (++received === target) resolve();
      },
      { maxQueue: Number.MAX_SAFE_INTEGER },
    );
  }
  const log = syntheticLog(1);
  const started = performance.now();
  for (let i = 0; i < events; i++) {
    pubsub.publish(log);
    if (i % 10_000 === 9_999) await new Promise((r) => setImmediate(r));
  }
  await done;
  return events / ((performance.now() - started) / 1000);
}
