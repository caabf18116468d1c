// Express: capture every request, mount the live dashboard at /pgpulse.
// Run: DATABASE_URL=postgres://… node --import tsx examples/express.ts
import express from 'express';
import { createPulse } from 'pgpulse';
import { createDashboard } from 'pgpulse/dashboard';

const pulse = createPulse({ connectionString: process.env.DATABASE_URL });
await pulse.migrate();

const app = express();
app.use('/pgpulse', createDashboard({ db: pulse.db, pubsub: pulse.pubsub, token: process.env.PGPULSE_TOKEN }).handler); // before the middleware: not recorded
app.use(pulse.middleware());
app.get('/users/:id', (req, res) => {
  res.json({ id: req.params.id }); // stored with route "/users/:id"
});

const port = Number(process.env.PORT ?? 3000);
const server = app.listen(port, () => console.log(`listening on http://localhost:${port} (dashboard: /pgpulse/)`));
pulse.closeOnSignals({ servers: [server] }); // on SIGTERM/SIGINT: close the server, store every answered request, exit
