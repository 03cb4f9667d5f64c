#!/usr/bin/env bash
# Start a streaming replica of the local PostgreSQL on PORT (a second cluster made by pg_basebackup), for the
# read-routing tests. Usage: .ci/replica.sh PORT [stop]. A replica already running on PORT is made afresh; "stop"
# stops it and drops its replication slot, so the primary keeps no WAL for it.
set -euo pipefail
port="${1:-5433}"
dir="${TMPDIR:-/tmp}/userops-replica-$port"
slot="userops_replica_$port"
as_postgres() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
bin="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)"

# The primary must accept replication connections from this machine.
hba="$(psql -h 127.0.0.1 -p 5432 -U postgres -tAc 'SHOW hba_file')"
if ! grep -qE '^host\s+replication\s+all\s+127\.0\.0\.1/32\s+trust' "$hba"; then
    echo "host replication all 127.0.0.1/32 trust" >> "$hba"
    psql -h 127.0.0.1 -p 5432 -U postgres -tAc 'SELECT pg_reload_conf()' >/dev/null
fi

if [ -f "$dir/data/postmaster.pid" ]; then
    as_postgres "$bin/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true
fi
rm -rf "$dir"
psql -h 127.0.0.1 -p 5432 -U postgres -tAc \
    "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = '$slot'" >/dev/null
[ "${2:-}" = stop ] && exit 0
mkdir -p "$dir"
[ "$(id -u)" = 0 ] && chown postgres "$dir"
as_postgres "$bin/pg_basebackup" -h 127.0.0.1 -p 5432 -U postgres -D "$dir/data" -X stream -R --checkpoint=fast \
    --create-slot --slot "$slot" --no-sync
# Debian keeps the primary's configuration outside its data directory: the replica gets its own, minimal one.
as_postgres tee "$dir/data/postgresql.conf" >/dev/null <<CONF
port = $port
listen_addresses = '127.0.0.1'
unix_socket_directories = '$dir'
hot_standby = on
fsync = off  # a throw-away replica for tests: no start-up sync of the copied data directory
max_connections = 100
shared_buffers = 64MB
CONF
as_postgres tee "$dir/data/pg_hba.conf" >/dev/null <<HBA
local all all trust
host all all 127.0.0.1/32 trust
HBA
as_postgres "$bin/pg_ctl" -D "$dir/data" -l "$dir/replica.log" -w start >/dev/null
in_recovery="$(psql -h 127.0.0.1 -p "$port" -U postgres -tAc 'SELECT pg_is_in_recovery()')"
[ "$in_recovery" = t ] || { echo "the server on port $port is not a replica" >&2; exit 1; }
echo "replica on port $port streaming from 127.0.0.1:5432"
