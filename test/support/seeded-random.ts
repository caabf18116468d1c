/**
 * Deterministic randomness for generated test data: the same seed gives the
 * same rows on every run and machine.
 */

/** A mulberry32 generator for `seed`: numbers in [0, 1). */
export function seededRandom(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/** A Zipf-like index drawn with `random`: in [0, n), with probability ∝ about 1/(i+1)^s. */
export function zipfIndex(random: () => number, n: number, s: number): number {
  return Math.min(n - 1, Math.floor(n ** (random() ** s)) - 1);
}
