/**
 * Entry of the writer's `worker_threads` worker (see `writerMode`): receives
 * batches of RequestLogs from the main thread (packed, see packed-rows.ts) and runs the ordinary
 * {@link Writer} (batching, serialising, rollups, NOTIFY, retries) on its own
 * pool, off the app's event loop. Its events and stats are relayed back.
 */
import { deserialize } from 'node:v8';
import { parentPort, workerData } from 'node:worker_threads';
import { connect } from '../store/connection.js';
import type { RequestLog } from '../request-log.js';
import { unpackRows } from './packed-rows.js';
import { relayedEvents, type SerializedError, type ToWorker, type WorkerInit, type WorkerReport } from './worker-protocol.js';
import { Writer } from './writer.js';

const port = parentPort;
if (!port) throw new Error('pgpulse writer worker: must run in a worker thread');
const init = workerData as WorkerInit;
let received = 0;

function post(message: WorkerReport): void {
  port!.postMessage({ ...message, stats: { ...writer.stats }, received });
}

function serializeError(error: Error): SerializedError {
  const cause = error.cause as { message?: unknown; code?: unknown } | undefined;
  const code = (error as { code?: unknown }).code;
  return {
    message: error.message,
    ...(typeof code === 'string' ? { code } : {}),
    ...(cause && typeof cause.message === 'string'
      ? { cause: { message: cause.message, ...(typeof cause.code === 'string' ? { code: cause.code } : {}) } }
      : {}),
  };
}

const connection = connect({ connectionString: init.connectionString, poolSize: init.poolSize }, (error) =>
  post({ type: 'poolError', message: error.message }),
);
// COPY through the worker's own pool, as the in-process writer does through the pool pgpulse opened.
const writer = new Writer(connection.db, { ...init.options, copyPool: connection.pool });
for (const name of relayedEvents) {
  const on = writer.on.bind(writer) as (name: string, listener: (info: Record<string, unknown>) => void) => void;
  on(name, ({ error, ...info }) => post({ type: 'event', event: { name, info, ...(error instanceof Error ? { error: serializeError(error) } : {}) } }));
}

port.on('message', (message: ToWorker) => {
  switch (message.type) {
    case 'packed': {
      const rows = unpackRows(message.rows);
      received += rows.length;
      for (const row of rows) writer.add(row);
      return;
    }
    case 'rows': {
      const rows = deserialize(message.data) as RequestLog[];
      received += rows.length;
      for (const row of rows) writer.add(row);
      return;
    }
    case 'flush':
      // setImmediate: the write's bookkeeping (stats.pending) settles just after the flush resolves.
      void writer.flush().then(() => setImmediate(() => post({ type: 'flushed', id: message.id })));
      return;
    case 'close':
      void writer
        .close()
        .then(() => connection.close())
        .catch(() => undefined)
        .then(() => {
          post({ type: 'closed' });
          port.close();
        });
      return;
  }
});
post({ type: 'ready' });
