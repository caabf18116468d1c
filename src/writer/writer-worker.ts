/**
 * Entry of the writer's `worker_threads` worker (see `writerMode`): receives
 * batches of RequestLogs from the main thread (packed, see packed-rows.ts) and runs the ordinary
 * {@link Writer} (batching, serialising, rollups, NOTIFY, retries) on its own
 * pool, off the app's event loop. Its events and stats are relayed back.
 */
import { deserialize } from 'node:v8';
import { parentPort, workerData } from 'node:worker_threads';
import { connect } from '../store/connection.js';
import type { RequestLog } from '../schema/request-log.js';
import { unpackRows } from './packed-rows.js';
import { relayedEvents, type SerializedError, type ToWorker, type WorkerInit, type WorkerReport } from './worker-protocol.js';
import { Writer } from './writer.js';

/** Longest the worker waits for its pool to end after its writer closed, in ms. */
const POOL_END_MS = 200;

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
let statsScheduled = false;
/** After a commit or a drop the writer updates `pending` once the write settles: report it then (once per loop turn). */
function postStatsSoon(): void {
  if (statsScheduled) return;
  statsScheduled = true;
  setImmediate(() => {
    statsScheduled = false;
    post({ type: 'stats' });
  });
}
for (const name of relayedEvents) {
  const on = writer.on.bind(writer) as (name: string, listener: (info: Record<string, unknown>) => void) => void;
  on(name, ({ error, ...info }) => {
    post({ type: 'event', event: { name, info, ...(error instanceof Error ? { error: serializeError(error) } : {}) } });
    if (name === 'flushed' || name === 'drop') postStatsSoon();
  });
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
        .close(Math.max(0, message.timeoutMs - POOL_END_MS))
        // A pool with a client stuck on a lost server never ends: leave it to the thread's end.
        .then(() => Promise.race([connection.close(), new Promise((resolve) => setTimeout(resolve, POOL_END_MS).unref())]))
        .catch(() => undefined)
        .then(() => {
          post({ type: 'closed' });
          port.close();
        });
      return;
  }
});
post({ type: 'ready' });
