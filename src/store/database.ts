import type { ColumnType, Generated } from 'kysely';
import type { DeviceType } from '../request-log.js';

/** Kysely row type of `pgpulse.request_logs`. */
export interface RequestLogsTable {
  id: Generated<string>;
  request_id: string;
  method: string;
  path: string;
  route: string | null;
  status_code: number;
  duration_ms: number;
  response_bytes: ColumnType<string | null, number | null, number | null>;
  user_agent: string | null;
  referer: string | null;
  device_type: DeviceType;
  visitor_id: string | null;
  session_id: string | null;
  node_id: string;
  ip: string | null;
  inserted_at: ColumnType<Date, Date | string, Date | string>;
  tx_id: Generated<string>;
}

/** Kysely row type of `pgpulse.visitor_salts`. */
export interface VisitorSaltsTable {
  day: ColumnType<string, string, string>;
  salt: string;
}

/** Kysely row type of `pgpulse.migrations`. */
export interface MigrationsTable {
  name: string;
  applied_at: Generated<Date>;
}

/** Tables pgpulse reads and writes, keyed the way Kysely expects (`schema.table`). */
export interface PulseDatabase {
  'pgpulse.request_logs': RequestLogsTable;
  'pgpulse.visitor_salts': VisitorSaltsTable;
  'pgpulse.migrations': MigrationsTable;
}
