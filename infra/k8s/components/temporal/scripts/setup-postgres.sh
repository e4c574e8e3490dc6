#!/bin/sh
# Temporal's two databases on temporal-postgres: created when missing, schema brought to the
# version this admin-tools image ships (idempotent: a restart or an upgrade runs it again).
# The password comes from SQL_PASSWORD (the compose file passes TEMPORAL_DB_PASSWORD).
set -eu
schema=/etc/temporal/schema/postgresql/v12
sql() { temporal-sql-tool --plugin postgres12 --ep temporal-postgres -p 5432 -u temporal "$@"; }
for db in temporal temporal_visibility; do
  case $db in temporal) dir=$schema/temporal/versioned ;; *) dir=$schema/visibility/versioned ;; esac
  sql --db "$db" create || true        # fails only when it exists
  sql --db "$db" setup-schema -v 0.0 || true  # fails only when already set up
  sql --db "$db" update-schema -d "$dir"
done
echo "temporal schema: up to date"
