import { createHash } from 'node:crypto';

/**
 * HyperLogLog with 2^10 one-byte registers (1 KiB per sketch): unique
 * visitor counts with a typical relative error of 1.04/√1024 ≈ 3.3%, mergeable
 * across minutes, hours and nodes (register-wise maximum, also in SQL).
 */
export const HLL_REGISTERS = 1024;

const registerMemo = new Map<string, number>();
/** Visitor ids whose register is remembered (they repeat across batches). */
const MEMO_SIZE = 50_000;

/**
 * Register (0–1023) and rank (1–32) of a value, from its MD5 so SQL computes
 * the same (`pgpulse.hll_register`): register = first 10 bits, rank = leading
 * zeros of bytes 4–7, plus one. Packed as `register * 64 + rank`.
 */
export function hllRegister(value: string): number {
  let packed = registerMemo.get(value);
  if (packed === undefined) {
    const h = createHash('md5').update(value).digest();
    const register = (h[0]! << 2) | (h[1]! >> 6);
    const w = h.readUInt32BE(4);
    packed = register * 64 + (w === 0 ? 32 : Math.clz32(w) + 1);
    if (registerMemo.size >= MEMO_SIZE) registerMemo.clear();
    if (value.length <= 256) registerMemo.set(value, packed);
  }
  return packed;
}

/** Adds a value to a sketch (in place). */
export function hllAdd(registers: Uint8Array, value: string): void {
  hllSet(registers, hllRegister(value));
}

/** Applies a packed register/rank from {@link hllRegister} to a sketch (in place). */
export function hllSet(registers: Uint8Array, packed: number): void {
  const index = packed >> 6;
  const rank = packed & 63;
  if (rank > registers[index]!) registers[index] = rank;
}

/** Merges `source` into `target` (in place). */
export function hllMerge(target: Uint8Array, source: Uint8Array): void {
  for (let i = 0; i < HLL_REGISTERS; i++) if (source[i]! > target[i]!) target[i] = source[i]!;
}

/** Estimated number of distinct values added. */
export function hllEstimate(registers: Uint8Array): number {
  const m = HLL_REGISTERS;
  let sum = 0;
  let zeros = 0;
  for (let i = 0; i < m; i++) {
    sum += 2 ** -registers[i]!;
    if (registers[i] === 0) zeros++;
  }
  const alpha = 0.7213 / (1 + 1.079 / m);
  const raw = (alpha * m * m) / sum;
  if (raw <= 2.5 * m && zeros > 0) return Math.round(m * Math.log(m / zeros));
  return Math.round(raw);
}
