// Fastify: one plugin for every route; the route pattern comes from Fastify.
// Run: DATABASE_URL=postgres://… node --import tsx examples/fastify.ts
import Fastify from 'fastify';
import { createPulse } from 'pgpulse';
import { pgpulseFastify } from 'pgpulse/fastify';

const pulse = createPulse({ connectionString: process.env.DATABASE_URL });
await pulse.migrate();

const app = Fastify();
await app.register(pgpulseFastify(pulse));
app.get('/users/:id', async (request) => ({ id: (request.params as { id: string }).id }));

const port = Number(process.env.PORT ?? 3000);
await app.listen({ port, host: '127.0.0.1' });
pulse.closeOnSignals({ servers: [app] }); // app.close() on SIGTERM, then the pulse
console.log(`listening on http://localhost:${port}`);
