// Hono on @hono/node-server: middleware with the matched route pattern.
// Run: DATABASE_URL=postgres://… node --import tsx examples/hono.ts
import { serve } from '@hono/node-server';
import { Hono } from 'hono';
import { createPulse } from 'pgpulse';
import { pgpulseHono } from 'pgpulse/hono';

const pulse = createPulse({ connectionString: process.env.DATABASE_URL });
await pulse.migrate();

const app = new Hono();
app.use(pgpulseHono(pulse));
app.get('/users/:id', (c) => c.json({ id: c.req.param('id') }));

const port = Number(process.env.PORT ?? 3000);
const server = serve({ fetch: app.fetch, port, hostname: '127.0.0.1' }, () => console.log(`listening on http://localhost:${port}`));
pulse.closeOnSignals({ servers: [server] });
