import type { IncomingMessage } from 'node:http';

/** Largest login body read, in bytes; a longer one is treated as empty. */
const MAX_BODY_BYTES = 8_192;

/** Reads a small `application/x-www-form-urlencoded` or JSON body into string fields. Never throws. */
export async function readForm(req: IncomingMessage): Promise<Record<string, string | undefined>> {
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of req) {
      size += (chunk as Buffer).length;
      if (size > MAX_BODY_BYTES) return {};
      chunks.push(chunk as Buffer);
    }
  } catch {
    return {};
  }
  const text = Buffer.concat(chunks).toString('utf8');
  if ((req.headers['content-type'] ?? '').startsWith('application/x-www-form-urlencoded')) {
    return Object.fromEntries(new URLSearchParams(text));
  }
  try {
    const value: unknown = JSON.parse(text);
    if (value && typeof value === 'object' && typeof (value as { token?: unknown }).token === 'string') return { token: (value as { token: string }).token };
  } catch {
    // fall through: not JSON
  }
  return {};
}
