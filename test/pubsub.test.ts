import { describe, expect, it } from 'vitest';
import { PubSub, type PulseMessage } from '../src/pubsub.js';
import { InvalidRequestLogError } from '../src/schema/request-log.js';
import { eventually, makeLog } from './support/fixtures.js';

describe('PubSub', () => {
  it('is named pgpulse_pubsub', () => {
    expect(new PubSub().name).toBe('pgpulse_pubsub');
  });

  it('delivers request_sent messages to every subscriber and stops after unsubscribe', async () => {
    const pubsub = new PubSub();
    const a: PulseMessage[] = [];
    const b: PulseMessage[] = [];
    const offA = pubsub.subscribe((m) => void a.push(m));
    pubsub.subscribe((m) => void b.push(m));
    const log = pubsub.broadcast(makeLog());
    await eventually(() => a.length === 1 && b.length === 1);
    expect(a[0]).toEqual({ type: 'request_sent', event: log });
    offA();
    offA();
    pubsub.broadcast(makeLog());
    await eventually(() => b.length === 2);
    expect(a).toHaveLength(1);
    expect(pubsub.stats.subscribers).toBe(1);
  });

  it('never blocks broadcast on a subscriber', () => {
    const pubsub = new PubSub();
    let calls = 0;
    pubsub.subscribe(() => {
      calls++;
    });
    pubsub.broadcast(makeLog());
    expect(calls).toBe(0);
  });

  it('isolates a throwing subscriber and reports it', async () => {
    const pubsub = new PubSub();
    const errors: unknown[] = [];
    pubsub.on('subscriberError', (info) => errors.push(info.error));
    pubsub.subscribe(() => {
      throw new Error('boom');
    });
    pubsub.subscribe(async () => {
      throw new Error('async boom');
    });
    const seen: PulseMessage[] = [];
    pubsub.subscribe((m) => void seen.push(m));
    for (let i = 0; i < 5; i++) pubsub.broadcast(makeLog());
    await eventually(() => seen.length === 5 && errors.length === 10);
    expect(pubsub.stats.errors).toBe(10);
  });

  it('bounds a slow async subscriber and counts drops', async () => {
    const pubsub = new PubSub();
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let handled = 0;
    const drops: number[] = [];
    pubsub.on('drop', (info) => drops.push(info.count));
    pubsub.subscribe(
      async () => {
        await gate;
        handled++;
      },
      { maxQueue: 10 },
    );
    const fast: PulseMessage[] = [];
    pubsub.subscribe((m) => void fast.push(m));
    for (let i = 0; i < 100; i++) pubsub.broadcast(makeLog());
    await eventually(() => fast.length === 100);
    release();
    await eventually(() => handled === 10);
    expect(pubsub.stats.dropped).toBe(90);
    expect(drops).toHaveLength(90);
  });

  it('iterates with an AbortSignal', async () => {
    const pubsub = new PubSub();
    const controller = new AbortController();
    const received: string[] = [];
    const done = (async () => {
      for await (const message of pubsub.iterate({ signal: controller.signal })) {
        received.push(message.event.path);
        if (received.length === 3) controller.abort();
      }
    })();
    await eventually(() => pubsub.stats.subscribers === 1);
    for (let i = 0; i < 5; i++) pubsub.broadcast(makeLog({ path: `/p/${i}` }));
    await done;
    expect(received).toEqual(['/p/0', '/p/1', '/p/2']);
    expect(pubsub.stats.subscribers).toBe(0);
  });

  it('ends iteration when aborted while waiting', async () => {
    const pubsub = new PubSub();
    const controller = new AbortController();
    const done = (async () => {
      for await (const _ of pubsub.iterate({ signal: controller.signal })) {
        // none
      }
      return 'ended';
    })();
    await eventually(() => pubsub.stats.subscribers === 1);
    controller.abort();
    await expect(done).resolves.toBe('ended');
    expect(pubsub.stats.subscribers).toBe(0);
  });

  it('rejects malformed logs with a clear error and delivers nothing', async () => {
    const pubsub = new PubSub();
    const seen: PulseMessage[] = [];
    pubsub.subscribe((m) => void seen.push(m));
    expect(() => pubsub.broadcast({ path: '/x' })).toThrow(InvalidRequestLogError);
    expect(() => pubsub.broadcast({ ...makeLog(), status_code: 42 })).toThrow(/status_code/);
    expect(pubsub.stats.broadcast).toBe(0);
    // Delivery is in order: once a valid log sent afterwards arrives, a rejected one would have arrived before it.
    pubsub.broadcast(makeLog({ path: '/valid' }));
    await eventually(() => seen.length >= 1);
    expect(seen.map((m) => m.event.path)).toEqual(['/valid']);
  });
});
