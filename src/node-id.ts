import { hostname } from 'node:os';

/** Default node id: `hostname:pid`, distinct for every process of a deployment. */
export function defaultNodeId(): string {
  return `${hostname()}:${process.pid}`;
}
