#!/usr/bin/env bash
# Start (or restart) a PgBouncer in transaction pooling mode in front of the local PostgreSQL, as the product runs
# in production (docs/operations.md). Usage: .ci/pgbouncer.sh PORT. Restarting drops the server connections it
# held, so the test database can be dropped and made again.
set -euo pipefail
port="${1:-6432}"
dir="${TMPDIR:-/tmp}/userops-pgbouncer-$port"
mkdir -p "$dir"
if [ -f "$dir/pgbouncer.pid" ] && kill -0 "$(cat "$dir/pgbouncer.pid")" 2>/dev/null; then
    kill "$(cat "$dir/pgbouncer.pid")"
    for _ in $(seq 1 50); do kill -0 "$(cat "$dir/pgbouncer.pid")" 2>/dev/null || break; sleep 0.1; done
fi
cat > "$dir/pgbouncer.ini" <<INI
[databases]
* = host=127.0.0.1 port=5432

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $port
unix_socket_dir =
auth_type = trust
auth_file = $dir/userlist.txt
admin_users = postgres
pool_mode = transaction
max_client_conn = 500
default_pool_size = 40
server_reset_query =
ignore_startup_parameters = extra_float_digits
pidfile = $dir/pgbouncer.pid
logfile = $dir/pgbouncer.log
INI
echo '"postgres" ""' > "$dir/userlist.txt"
user_option=()
[ "$(id -u)" = 0 ] && { chown -R postgres "$dir"; user_option=(-u postgres); }
pgbouncer -d "${user_option[@]}" "$dir/pgbouncer.ini"
for _ in $(seq 1 50); do pg_isready -h 127.0.0.1 -p "$port" -q && exit 0; sleep 0.1; done
echo "PgBouncer did not start on port $port; its log:" >&2
cat "$dir/pgbouncer.log" >&2
exit 1
