"""Research jobs' store: findings and reports in Postgres, behind activities on the memory
worker's queue (they share its pool), read directly by the CLI and the gateway."""
