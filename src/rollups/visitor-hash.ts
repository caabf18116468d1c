import { createHash } from 'node:crypto';

/**
 * Visitor ids as 32-bit hashes, the way the cube stores them
 * (`pgpulse.visitor_hash` computes the same in SQL): the first 4 bytes of the
 * id's MD5, read as a signed integer. Hand-written because JS and SQL must
 * agree bit for bit. Collisions are negligible for counting (10M distinct ids
 * collide about 0.1% of the time).
 */
export function visitorHash(visitorId: string): number {
  return createHash('md5').update(visitorId).digest().readInt32BE(0);
}

/**
 * Hashes below this value are the lowest 1/16 of the hash space: a cube cell
 * lists them first (`visitors_sampled` of them), so a reader can count a
 * uniform 1/16 sample of a large set's visitors and scale it by 16.
 */
export const VISITOR_SAMPLE_BELOW = -(2 ** 31) + 2 ** 28;

/** 1 / the share of the hash space {@link VISITOR_SAMPLE_BELOW} selects. */
export const VISITOR_SAMPLE_SCALE = 16;
