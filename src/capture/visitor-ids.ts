import { createHash, randomBytes } from 'node:crypto';
import { MAX_PARSED_USER_AGENT } from './user-agent-info.js';
import type { Kysely } from 'kysely';
import type { PulseDatabase } from '../schema/database.js';
import { dayVisitorSalt, deleteOldVisitorSalts } from '../store/visitor-salts.js';
import { utcDay, utcDayNumber } from '../shared/time.js';

/** Visitor ids remembered per day, to hash each visitor once. */
const MEMO_SIZE = 50_000;
/** Pairs with longer keys (huge user agents) are hashed every time, keeping the memo small. */
const MEMO_MAX_KEY_LENGTH = 640;

/**
 * Hashes IP + user agent with a salt that changes every UTC day, so a visitor
 * can be counted within a day but not followed across days. Salts are shared by
 * all nodes through `pgpulse.visitor_salts` and deleted after two days. Until
 * the day's salt is loaded (first milliseconds, or Postgres unreachable), a
 * process-local salt is used.
 */
export class VisitorIds {
  private day = '';
  private salt = '';
  private loading: Promise<void> | undefined;
  private nextAttemptAt = 0;
  private readonly localSalts = new Map<string, string>();
  private readonly memo = new Map<string, string>();
  private memoDay = -1;
  private memoDayString = '';

  constructor(private readonly db: Kysely<PulseDatabase> | undefined) {}

  /** Visitor id for the pair at `now` (a Date or epoch ms), or null without an IP. */
  hash(ip: string | null, userAgent: string | null, now: Date | number = Date.now()): string | null {
    if (!ip) return null;
    const nowMs = typeof now === 'number' ? now : now.getTime();
    const dayNumber = utcDayNumber(nowMs);
    if (dayNumber !== this.memoDay) {
      this.memoDay = dayNumber;
      this.memoDayString = utcDay(nowMs);
      this.memo.clear();
    }
    const day = this.memoDayString;
    if (day !== this.day && Date.now() >= this.nextAttemptAt) {
      this.nextAttemptAt = Date.now() + 5_000;
      void this.load(day);
    }
    const salt = day === this.day ? this.salt : this.localSalt(day);
    // Hashing is the costliest step of capture; most requests come from visitors seen before.
    // The user agent's first 512 characters (what capture parses): a crafted 15 KB one costs no more to hash than a real one.
    const agent = userAgent === null ? '' : userAgent.length > MAX_PARSED_USER_AGENT ? userAgent.slice(0, MAX_PARSED_USER_AGENT) : userAgent;
    const key = `${salt}\u0000${ip}\u0000${agent}`;
    const remember = key.length <= MEMO_MAX_KEY_LENGTH;
    let id = remember ? this.memo.get(key) : undefined;
    if (id === undefined) {
      id = createHash('sha256').update(key).digest('base64url').slice(0, 22);
      if (remember) {
        if (this.memo.size >= MEMO_SIZE) this.memo.clear();
        this.memo.set(key, id);
      }
    }
    return id;
  }

  /** Loads (or creates) the salt of `day`. Never rejects. */
  load(day: string = utcDay()): Promise<void> {
    if (!this.db) {
      this.day = day;
      this.salt = this.localSalt(day);
      return Promise.resolve();
    }
    this.loading ??= this.fetch(day).finally(() => (this.loading = undefined));
    return this.loading;
  }

  private async fetch(day: string): Promise<void> {
    const db = this.db!;
    try {
      const salt = await dayVisitorSalt(db, day, randomBytes(24).toString('base64url'));
      if (!salt) return;
      this.day = day;
      this.salt = salt;
      await deleteOldVisitorSalts(db, day);
    } catch {
      // Postgres down or not migrated: keep the process-local salt and retry on the next request.
    }
  }

  private localSalt(day: string): string {
    let salt = this.localSalts.get(day);
    if (!salt) {
      this.localSalts.clear();
      salt = randomBytes(24).toString('base64url');
      this.localSalts.set(day, salt);
    }
    return salt;
  }
}
