/**
 * Turns the ways a logical-replication connection fails into errors that name
 * the setting to change (and the managed-service flag where one is known).
 * Matched on SQLSTATE codes where Postgres gives one, on message text where a
 * pooler answers instead of Postgres.
 */

const MANAGED_FLAGS = 'on Amazon RDS/Aurora set the parameter rds.logical_replication = 1, on Cloud SQL the flag cloudsql.logical_decoding = on';

/** Where a managed service sets a server parameter that needs a restart. */
function managedParameter(name: string): string {
  return `on Amazon RDS/Aurora the parameter group's ${name}, on Cloud SQL the flag ${name}`;
}

interface PgLikeError {
  code?: string;
  message?: string;
  setting?: string;
  value?: string;
}

/** An Error whose message says what to change for the `wal` transport to work; `cause` is the original. */
export function explainWalError(error: unknown, publication: string): Error {
  const e = (error ?? {}) as PgLikeError;
  const message = e.message ?? String(error);
  const explain = (text: string) => new Error(`pgpulse listener (wal transport): ${text}`, { cause: error });
  if (e.setting === 'wal_level') {
    return explain(
      `wal_level is '${e.value}', logical decoding needs wal_level = logical (postgresql.conf or ALTER SYSTEM, then restart Postgres; ${MANAGED_FLAGS})`,
    );
  }
  if (e.setting === 'publication') {
    return explain(
      `publication "${publication}" does not exist: run \`pgpulse migrate\` as a role that owns pgpulse.request_logs and has CREATE on the database ` +
        `(migration 0010 creates it), or CREATE PUBLICATION ${publication} FOR TABLE pgpulse.request_logs WITH (publish = 'insert', publish_via_partition_root = true)`,
    );
  }
  const alter = `ALTER PUBLICATION ${publication}`;
  const options = `${alter} SET (publish = 'insert', publish_via_partition_root = true)`;
  if (e.setting === 'publication_root') {
    return explain(
      `publication "${publication}" does not publish pgpulse.request_logs as one relation (the table is not in it, or publish_via_partition_root is off ` +
        `and rows would arrive as day partitions): ${alter} SET TABLE pgpulse.request_logs; ${options}`,
    );
  }
  if (e.setting === 'publication_insert') {
    return explain(`publication "${publication}" does not publish inserts: ${options}`);
  }
  if (e.setting === 'publication_columns') {
    return explain(
      `publication "${publication}" leaves out columns of pgpulse.request_logs (${e.value}): ${alter} SET TABLE pgpulse.request_logs (no column list)`,
    );
  }
  if (/must be superuser or replication role|permission denied to start WAL sender|REPLICATION attribute/i.test(message)) {
    return explain(
      `the role lacks the REPLICATION attribute: ALTER ROLE … WITH REPLICATION (on RDS: GRANT rds_replication TO …; on Cloud SQL: ALTER USER … WITH REPLICATION)`,
    );
  }
  if (e.code === '53400' || /replication slots are in use|all replication slots/i.test(message)) {
    return explain(
      `all replication slots are in use: raise max_replication_slots (restart needed; ${managedParameter('max_replication_slots')}), ` +
        `or drop unused slots (see pg_replication_slots); each wal listener holds one temporary slot while connected (Postgres: ${message})`,
    );
  }
  if (/max_wal_senders|number of requested standby connections|WAL senders/i.test(message)) {
    return explain(
      `all WAL senders are in use: raise max_wal_senders (restart needed; ${managedParameter('max_wal_senders')}), ` +
        `or stop a replication client (see pg_stat_replication: replicas, subscriptions, other listeners); each wal listener holds one WAL sender while connected (Postgres: ${message})`,
    );
  }
  if (/logical decoding requires wal_level|wal_level >= logical/i.test(message)) {
    return explain(`wal_level must be logical (restart needed; ${MANAGED_FLAGS}): ${message}`);
  }
  if (/unsupported startup parameter|unsupported pkt|pgbouncer/i.test(message)) {
    return explain(
      `the server refused a replication connection (${message}); a connection pooler such as PgBouncer cannot carry one: ` +
        `point listenConnectionString (pgpulse --listen-database-url) directly at Postgres`,
    );
  }
  return explain(message);
}
