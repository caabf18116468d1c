import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A self-signed certificate for localhost and 127.0.0.1 (and `ips`), made by the openssl CLI (Debian `openssl`). */
export interface TestCertificate {
  certFile: string;
  keyFile: string;
  cert: Buffer;
  key: Buffer;
  remove(): Promise<void>;
}

export async function makeTestCertificate(options: { ips?: readonly string[] } = {}): Promise<TestCertificate> {
  const names = ['DNS:localhost', 'IP:127.0.0.1', ...(options.ips ?? []).map((ip) => `IP:${ip}`)];
  const dir = await mkdtemp(join(tmpdir(), 'pgpulse-tls-'));
  const certFile = join(dir, 'cert.pem');
  const keyFile = join(dir, 'key.pem');
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      keyFile,
      '-out',
      certFile,
      '-days',
      '2',
      '-subj',
      '/CN=localhost',
      '-addext',
      `subjectAltName=${names.join(',')}`,
    ],
    { stdio: 'ignore' },
  );
  return { certFile, keyFile, cert: await readFile(certFile), key: await readFile(keyFile), remove: () => rm(dir, { recursive: true, force: true }) };
}
