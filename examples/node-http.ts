// Bare node:http: wrap the handler. No router, so tell pgpulse the route pattern yourself.
// Run: DATABASE_URL=postgres://… node --import tsx examples/node-http.ts
import { createServer, type IncomingMessage } from 'node:http';
import { createPulse } from 'pgpulse';

const pulse = createPulse({ connectionString: process.env.DATABASE_URL });
await pulse.migrate();

const server = createServer(
  pulse.wrap((req: IncomingMessage & { route?: { path: string } }, res) => {
    const user = /^\/users\/(\d+)$/.exec(new URL(req.url ?? '/', 'http://x').pathname);
    if (!user) return void res.writeHead(404).end('not found');
    req.route = { path: '/users/:id' }; // as Express does; otherwise route is stored as null
    res.setHeader('content-type', 'application/json').end(JSON.stringify({ id: user[1] }));
  }),
);

const port = Number(process.env.PORT ?? 3000);
server.listen(port, '127.0.0.1', () => console.log(`listening on http://localhost:${port}`));
pulse.closeOnSignals({ servers: [server] });
