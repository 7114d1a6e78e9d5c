/**
 * Monthly range partitions, shared by every domain's tables: a plpgsql function
 * `{table}_ensure_partitions(first_month, months)` that creates the partitions
 * `{table}_YYYYMM` that are missing (idempotent, advisory-locked against concurrent callers).
 */

/** SQL that creates `{table}_ensure_partitions` for a table partitioned by a timestamptz range. */
export function monthlyPartitionsFunctionSql(table: string): string {
  if (!/^[a-z][a-z0-9_]{0,40}$/.test(table)) throw new Error(`invalid table name ${JSON.stringify(table)}`);
  return `-- Creates the monthly partitions from first_month for months months (idempotent).
CREATE FUNCTION ${table}_ensure_partitions(first_month date, months integer) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
  m date;
  created integer := 0;
  part text;
BEGIN
  PERFORM pg_advisory_xact_lock(hashtext(current_schema() || '.${table}_partitions'));
  FOR i IN 0 .. months - 1 LOOP
    m := (date_trunc('month', first_month) + make_interval(months => i))::date;
    part := '${table}_' || to_char(m, 'YYYYMM');
    IF to_regclass(quote_ident(current_schema()) || '.' || quote_ident(part)) IS NULL THEN
      EXECUTE format('CREATE TABLE %I.%I PARTITION OF ${table} FOR VALUES FROM (%L) TO (%L)',
        current_schema(), part, m::text || ' 00:00:00+00', (m + interval '1 month')::date::text || ' 00:00:00+00');
      created := created + 1;
    END IF;
  END LOOP;
  RETURN created;
END $$;`;
}
