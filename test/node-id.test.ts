import { hostname } from 'node:os';
import { describe, expect, test } from 'vitest';
import { defaultNodeId } from '../src/node-id.js';

describe('defaultNodeId', () => {
  test('stays the same across restarts: configured name, then the platform instance, then the host name', () => {
    expect(defaultNodeId({})).toBe(hostname());
    expect(defaultNodeId({ PGPULSE_NODE_ID: 'api-1', HOSTNAME: 'x', KUBERNETES_SERVICE_HOST: '10.0.0.1' })).toBe('api-1');
    expect(defaultNodeId({ HOSTNAME: 'web-7d9f-abcde', KUBERNETES_SERVICE_HOST: '10.0.0.1' })).toBe('web-7d9f-abcde');
    // HOSTNAME outside Kubernetes is the shell's, not an instance name.
    expect(defaultNodeId({ HOSTNAME: 'laptop' })).toBe(hostname());
    expect(defaultNodeId({ FLY_MACHINE_ID: '3d8d9' })).toBe('3d8d9');
    expect(defaultNodeId({ DYNO: 'web.2' })).toBe('web.2');
    expect(defaultNodeId({ RENDER_INSTANCE_ID: 'srv-abc-xyz' })).toBe('srv-abc-xyz');
    expect(defaultNodeId({ RAILWAY_REPLICA_ID: 'r-1' })).toBe('r-1');
    expect(defaultNodeId({ PGPULSE_NODE_ID: '  ' })).toBe(hostname());
  });

  test('processes of one instance get #index (PM2 NODE_APP_INSTANCE)', () => {
    expect(defaultNodeId({ PGPULSE_NODE_ID: 'api', NODE_APP_INSTANCE: '3' })).toBe('api#3');
    expect(defaultNodeId({ PGPULSE_NODE_ID: 'x'.repeat(300) })).toHaveLength(200);
  });
});
