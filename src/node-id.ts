import cluster from 'node:cluster';
import { hostname } from 'node:os';

/**
 * The default node id: the same across restarts of one instance of the app,
 * different for instances running side by side. The first of:
 * `PGPULSE_NODE_ID`; the pod name (`HOSTNAME`) in Kubernetes
 * (`KUBERNETES_SERVICE_HOST` set); `FLY_MACHINE_ID` (Fly.io); `DYNO`
 * (Heroku, e.g. `web.1`); `RENDER_INSTANCE_ID` (Render);
 * `RAILWAY_REPLICA_ID` (Railway); else the machine's host name (a container's
 * id under Docker). Processes of one instance are told apart by `#<index>`:
 * PM2's `NODE_APP_INSTANCE`, or the `node:cluster` worker id.
 */
export function defaultNodeId(env: NodeJS.ProcessEnv = process.env): string {
  const base =
    nonEmpty(env.PGPULSE_NODE_ID) ??
    (nonEmpty(env.KUBERNETES_SERVICE_HOST) ? nonEmpty(env.HOSTNAME) : undefined) ??
    nonEmpty(env.FLY_MACHINE_ID) ??
    nonEmpty(env.DYNO) ??
    nonEmpty(env.RENDER_INSTANCE_ID) ??
    nonEmpty(env.RAILWAY_REPLICA_ID) ??
    hostname();
  const index = nonEmpty(env.NODE_APP_INSTANCE) ?? (cluster.isWorker && cluster.worker ? String(cluster.worker.id) : undefined);
  // node_id is at most 200 characters (its column check).
  return (index === undefined ? base : `${base}#${index}`).slice(0, 200);
}

function nonEmpty(value: string | undefined): string | undefined {
  const trimmed = value?.trim();
  return trimmed ? trimmed : undefined;
}
