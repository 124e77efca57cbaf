#!/usr/bin/env bash
# Backup and restore of an Elemta cluster's PostgreSQL database (queue, message content, grain state, membership,
# reminders: everything the cluster keeps is in this one database).
#
#   elemta-db-backup.sh backup  <database> <file>   # consistent snapshot while the cluster runs (pg_dump -Fc)
#   elemta-db-backup.sh restore <database> <file>   # cluster STOPPED: replaces every object with the dump's
#
# Connection: the usual libpq variables (PGHOST, PGPORT, PGUSER, PGPASSWORD or ~/.pgpass, PGSSLMODE).
# PG_BIN may name the folder of pg_dump/pg_restore (e.g. /usr/lib/postgresql/15/bin); the client tools must not
# be older than the server.
#
# A dump is one MVCC snapshot: a message is in it with its content and queue rows, or not at all, because Elemta
# writes them in one transaction. After a restore the queue is exactly as it was at the dump; messages accepted
# after the dump are lost with it, and messages delivered after it will be delivered again (at-least-once).
# See docs/operations-postgres.md.
set -euo pipefail

usage() { echo "usage: $0 backup|restore <database> <file>" >&2; exit 2; }
[[ $# -eq 3 ]] || usage
action=$1 database=$2 file=$3
bin=${PG_BIN:+$PG_BIN/}

case "$action" in
  backup)
    tmp="$file.partial"
    # Custom format: compressed, restorable selectively; written aside and renamed so a failed run never
    # leaves a truncated file under the real name.
    "${bin}pg_dump" --format=custom --no-owner --no-privileges --dbname="$database" --file="$tmp"
    mv -f "$tmp" "$file"
    echo "elemta: backed up $database to $file"
    ;;
  restore)
    [[ -r "$file" ]] || { echo "elemta: cannot read $file" >&2; exit 1; }
    # One transaction: the database is either fully the dump's or unchanged. --clean drops the objects the dump
    # holds before recreating them, so the queue comes back to the dump's state, not merged with today's rows.
    "${bin}pg_restore" --clean --if-exists --no-owner --no-privileges --single-transaction --exit-on-error \
      --dbname="$database" "$file"
    echo "elemta: restored $database from $file"
    ;;
  *) usage ;;
esac
