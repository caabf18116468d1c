import { describe, expect, it } from 'vitest';
import { decodeBridgeMessage, encodeBridgeMessage, fromRowTuple } from '../../src/bridge/message.js';
import type { StoredRequestLog } from '../../src/schema/request-log.js';
import { makeLog } from '../support/fixtures.js';

const stored = (id: number, overrides: Partial<StoredRequestLog> = {}): StoredRequestLog => ({ ...makeLog({ node_id: 'origin' }), id, ...overrides });

describe('NOTIFY bridge message', () => {
  it('carries small batches inline and keeps a node_id that differs from the origin', () => {
    const rows = [
      stored(1),
      stored(2, {
        node_id: 'someone-else',
        ip: '10.1.2.3',
        trace_id: '4bf92f3577b34da6a3ce929d0e0e4736',
        span_id: '00f067aa0ba902b7',
        attributes: { plan: 'pro', seats: 3, trial: false },
      }),
    ];
    const message = decodeBridgeMessage(encodeBridgeMessage({ nodeId: 'origin', batchId: 'b', txId: '42', rows }));
    if (!('r' in message)) throw new Error('expected inline rows');
    expect(message.r.map((t) => fromRowTuple(t, message.o))).toEqual(rows);
  });

  it('falls back to id ranges, then to the transaction id alone', () => {
    const big = [stored(10, { user_agent: 'x'.repeat(20_000) }), stored(11), stored(13)];
    const byIds = decodeBridgeMessage(encodeBridgeMessage({ nodeId: 'origin', batchId: 'b', txId: '42', rows: big }));
    expect(byIds).toMatchObject({
      n: 3,
      tx: '42',
      ids: [
        [10, 11],
        [13, 13],
      ],
    });
    const scattered = Array.from({ length: 2_000 }, (_, i) => stored(1 + i * 2));
    const byTx = decodeBridgeMessage(encodeBridgeMessage({ nodeId: 'origin', batchId: 'b', txId: '42', rows: scattered }));
    expect(byTx).toMatchObject({ n: 2_000, ids: [] });
  });

  it('makes identical batches distinct by batch id', () => {
    const rows = [stored(1)];
    expect(encodeBridgeMessage({ nodeId: 'o', batchId: 'a', txId: '1', rows })).not.toBe(encodeBridgeMessage({ nodeId: 'o', batchId: 'b', txId: '1', rows }));
  });
});
