import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile, mkdir, readFile } from 'node:fs/promises';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Debian's nginx (apt `nginx-light`/`nginx`); tests that need it skip with this message when it is missing. */
export const NGINX_BIN = process.env.NGINX_BIN ?? '/usr/sbin/nginx';
export const nginxMissing = existsSync(NGINX_BIN) ? undefined : `nginx not found at ${NGINX_BIN} (apt-get install nginx-light, or set NGINX_BIN)`;

export interface RunningNginx {
  /** Port nginx listens on for each upstream (startNginx: on 127.0.0.1) or listening address (runNginx), in order. */
  ports: number[];
  stop(): Promise<void>;
}

/** A port free on `host` now (nginx binds it a moment later). */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

async function waitForPort(host: string, port: number, child: ChildProcess, log: string): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    if (child.exitCode !== null) throw new Error(`nginx exited with ${child.exitCode}: ${await readFile(log, 'utf8').catch(() => '')}`);
    const open = await new Promise<boolean>((resolve) => {
      const socket = createConnection({ port, host }, () => {
        socket.destroy();
        resolve(true);
      });
      socket.on('error', () => resolve(false));
    });
    if (open) return;
    if (attempt > 200) throw new Error(`nginx did not listen on ${host}:${port}: ${await readFile(log, 'utf8').catch(() => '')}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/**
 * Starts nginx as a reverse proxy in front of each upstream port (a temp
 * prefix, random ports, in the foreground), appending the client to
 * `X-Forwarded-For` like most proxies (`$proxy_add_x_forwarded_for`) and
 * setting `X-Forwarded-Proto`; with `tls`, it terminates HTTPS with that certificate.
 */
export async function startNginx(upstreamPorts: readonly number[], options: { tls?: { certFile: string; keyFile: string } } = {}): Promise<RunningNginx> {
  const ports: number[] = [];
  for (let i = 0; i < upstreamPorts.length; i++) ports.push(await freePort());
  const servers = upstreamPorts.map(
    (upstream, i) => `
    server {
      listen 127.0.0.1:${ports[i]}${options.tls ? ' ssl' : ''};
      ${options.tls ? `ssl_certificate ${options.tls.certFile}; ssl_certificate_key ${options.tls.keyFile};` : ''}
      location / {
        proxy_pass http://127.0.0.1:${upstream};
        proxy_http_version 1.1;
        proxy_set_header Host $host;
        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        proxy_set_header X-Forwarded-Proto $scheme;
      }
    }`,
  );
  return runNginx(
    servers,
    ports.map((port) => ({ host: '127.0.0.1', port })),
  );
}

/**
 * Runs nginx with these `server` blocks in its `http` block (a temp prefix,
 * in the foreground, as root's `user root`), and resolves once it accepts
 * connections on every `listening` address (those the blocks listen on).
 */
export async function runNginx(servers: readonly string[], listening: readonly { host: string; port: number }[]): Promise<RunningNginx> {
  const dir = await mkdtemp(join(tmpdir(), 'pgpulse-nginx-'));
  for (const sub of ['body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']) await mkdir(join(dir, sub));
  const log = join(dir, 'error.log');
  const config = `
${process.getuid?.() === 0 ? 'user root;' : ''}
daemon off;
worker_processes 1;
pid ${join(dir, 'nginx.pid')};
error_log ${log} warn;
events { worker_connections 256; }
http {
  access_log off;
  client_body_temp_path ${join(dir, 'body')};
  proxy_temp_path ${join(dir, 'proxy')};
  fastcgi_temp_path ${join(dir, 'fastcgi')};
  uwsgi_temp_path ${join(dir, 'uwsgi')};
  scgi_temp_path ${join(dir, 'scgi')};
  ${servers.join('\n')}
}
`;
  await writeFile(join(dir, 'nginx.conf'), config);
  const child = spawn(NGINX_BIN, ['-p', dir, '-c', join(dir, 'nginx.conf'), '-e', log], { stdio: 'ignore' });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  try {
    for (const { host, port } of listening) await waitForPort(host, port, child, log);
  } catch (error) {
    child.kill('SIGKILL');
    await exited;
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
  return {
    ports: listening.map(({ port }) => port),
    async stop() {
      if (child.exitCode === null) {
        child.kill('SIGQUIT');
        const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
        await exited;
        clearTimeout(timer);
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}
