// Attach pgpulse to the pg.Pool the app already has (or pass `db: yourKysely`):
// no second pool to size, and pgpulse never ends a pool it did not open.
// Run: DATABASE_URL=postgres://… node --import tsx examples/attach-pool.ts
import { createServer } from 'node:http';
import pg from 'pg';
import { createPulse } from 'pgpulse';

const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: 10 });
const pulse = createPulse({ pool });
await pulse.migrate();

const server = createServer(
  pulse.wrap((_req, res) => {
    pool.query<{ n: number }>('select count(*)::int as n from pgpulse.request_logs').then(
      ({ rows }) => res.setHeader('content-type', 'application/json').end(JSON.stringify({ requestsSoFar: rows[0]?.n })),
      () => res.writeHead(503).end(),
    );
  }),
);

const port = Number(process.env.PORT ?? 3000);
server.listen(port, '127.0.0.1', () => console.log(`listening on http://localhost:${port}`));
pulse.closeOnSignals({ servers: [server] });
