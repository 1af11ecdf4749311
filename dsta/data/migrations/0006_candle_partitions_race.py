"""candle_partitions_ensure: two imports creating the same month at once no longer fail.

The old function re-checked `to_regclass` after waiting on an advisory lock, but waiting on an advisory lock does
not refresh the catalog cache, so the second writer could still see no partition and fail on CREATE with
"relation already exists". Now the CREATE runs in a block that treats duplicate_table as done.
"""

from django.db import migrations

ENSURE_PARTITIONS = """
CREATE OR REPLACE FUNCTION candle_partitions_ensure(first_time timestamptz, last_time timestamptz)
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    month_start timestamp := date_trunc('month', first_time AT TIME ZONE 'UTC');
    partition_name text;
    created integer := 0;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_partitioned_table WHERE partrelid = 'candle'::regclass) THEN
        RETURN 0;
    END IF;
    WHILE month_start <= last_time AT TIME ZONE 'UTC' LOOP
        partition_name := 'candle_' || to_char(month_start, 'YYYY_MM');
        IF to_regclass(partition_name) IS NULL THEN
            -- Writers wanting the same month queue here; the later ones find it made (or fail on it: fine).
            PERFORM pg_advisory_xact_lock(hashtext('candle_partitions_ensure'));
            BEGIN
                EXECUTE format(
                    'CREATE TABLE %I PARTITION OF candle FOR VALUES FROM (%L) TO (%L)',
                    partition_name, month_start AT TIME ZONE 'UTC', (month_start + interval '1 month') AT TIME ZONE 'UTC'
                );
                created := created + 1;
            EXCEPTION WHEN duplicate_table THEN
                NULL;  -- another writer made it first
            END;
        END IF;
        month_start := month_start + interval '1 month';
    END LOOP;
    RETURN created;
END
$$;
"""


class Migration(migrations.Migration):
    dependencies = [("data", "0005_portfolio_backtests")]

    operations = [migrations.RunSQL(ENSURE_PARTITIONS, reverse_sql=migrations.RunSQL.noop)]
