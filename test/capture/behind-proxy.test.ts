import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPulse, type Pulse } from '../../src/create-pulse.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { adapterNames, startApp, type AdapterName, type RunningApp } from '../support/four-apps.js';
import { send } from '../support/http.js';
import { nginxMissing, startNginx, type RunningNginx } from '../support/nginx.js';

const CLIENTS = ['127.0.0.2', '127.0.0.3', '127.0.0.4', '127.0.0.5'];
const REQUESTS_PER_CLIENT = 5;
const UA = 'Mozilla/5.0 (Macintosh; Intel Mac OS X 14_0) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Safari/605.1.15';
/** nginx's own address: the one proxy every framework is told to trust. */
const PROXY = '127.0.0.1';

/**
 * Real nginx in front of each framework, appending to X-Forwarded-For. Clients
 * on distinct loopback addresses forge X-Forwarded-For; every framework, with
 * its own trust setting, must give exactly one visitor per real client.
 */
describe.skipIf(nginxMissing)(
  `behind nginx: one visitor per real client, whatever X-Forwarded-For says${nginxMissing ? ` (skipped: ${nginxMissing})` : ''}`,
  () => {
    let database: TestDatabase;
    let nginx: RunningNginx;
    const pulses = new Map<AdapterName, Pulse>();
    const apps: RunningApp[] = [];

    beforeAll(async () => {
      database = await createTestDatabase();
      for (const name of adapterNames) {
        // Express and Fastify use their own trust settings; bare node:http and Hono use pgpulse's trustProxy.
        const ownTrust = name === 'express' || name === 'fastify';
        const pulse = createPulse({
          connectionString: database.url,
          nodeId: name,
          storeIp: true,
          maintenanceIntervalMs: 0,
          ...(ownTrust ? {} : { trustProxy: PROXY }),
        });
        await pulse.migrate();
        pulses.set(name, pulse);
        apps.push(await startApp(name, pulse, ownTrust ? { trustProxy: PROXY } : {}));
      }
      nginx = await startNginx(apps.map((app) => app.port));
    }, 60_000);

    afterAll(async () => {
      await nginx?.stop();
      for (const app of apps) await app.close();
      for (const pulse of pulses.values()) await pulse.close();
      await database?.drop();
    });

    it('stores the real client address and one visitor per client in every framework', async () => {
      for (const [i, app] of apps.entries()) {
        for (const [c, client] of CLIENTS.entries()) {
          for (let r = 0; r < REQUESTS_PER_CLIENT; r++) {
            const forged = r % 2 === 0 ? `6.6.${c}.${r}` : `10.0.0.${r}, 203.0.113.${c}`;
            const response = await send(`http://127.0.0.1:${nginx.ports[i]}/users/${r}`, {
              localAddress: client,
              headers: { 'user-agent': UA, 'x-forwarded-for': forged, 'x-request-id': `${app.name}-${client}-${r}` },
            });
            expect(response.status, `${app.name} via nginx`).toBe(200);
          }
        }
      }
      for (const pulse of pulses.values()) await pulse.flush();
      const rows = await pulses.get('node:http')!.db.selectFrom('pgpulse.request_logs').select(['node_id', 'ip', 'visitor_id', 'request_id']).execute();
      for (const name of adapterNames) {
        const own = rows.filter((row) => row.node_id === name);
        expect(own, name).toHaveLength(CLIENTS.length * REQUESTS_PER_CLIENT);
        for (const row of own) expect(row.request_id.startsWith(`${name}-${row.ip}-`), `${name}: ${row.request_id} stored as ${row.ip}`).toBe(true);
        expect(new Set(own.map((row) => row.ip)), name).toEqual(new Set(CLIENTS));
        expect(new Set(own.map((row) => row.visitor_id)).size, `${name} visitors`).toBe(CLIENTS.length);
      }
      // Same salt, same address, same user agent: the same visitor whichever framework served it.
      const visitorOf = (name: AdapterName, ip: string) => rows.find((row) => row.node_id === name && row.ip === ip)!.visitor_id;
      for (const client of CLIENTS) expect(new Set(adapterNames.map((name) => visitorOf(name, client))).size).toBe(1);
    });
  },
);
