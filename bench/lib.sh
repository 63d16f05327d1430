# bench/lib.sh: helpers shared by the bench scripts (sourced, not run).

# free_port prints a TCP port free on 127.0.0.1 now.
free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# wait_port PORT waits up to 10s for something to listen on 127.0.0.1:PORT.
wait_port() {
	for _ in $(seq 100); do
		if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
		sleep 0.1
	done
	echo "bench: nothing listens on port $1" >&2
	return 1
}

# A throwaway PostgreSQL server as production runs one (fsync on), for the
# scripts that measure an agent on PostgreSQL. start_pg sets PG_DIR and
# PG_PORT and creates the database "sluice"; PG_OPTS adds server options;
# stop_pg removes it (call it from the script's EXIT trap).
PG_BIN=$(dirname "$(ls /usr/lib/postgresql/*/bin/initdb 2>/dev/null | tail -1)")
PG_DIR="" PG_PORT=""
pg() { # runs a PostgreSQL binary, as user postgres when root
	local bin=$PG_BIN/$1
	shift
	if [[ $(id -u) == 0 ]]; then runuser -u postgres -- "$bin" "$@"; else "$bin" "$@"; fi
}
start_pg() {
	PG_PORT=$(free_port)
	# Under /tmp: user postgres must be able to reach it.
	PG_DIR=$(mktemp -d /tmp/sluice-bench-pg-XXXXXX)
	chmod 755 "$PG_DIR"
	if [[ $(id -u) == 0 ]]; then chown postgres "$PG_DIR"; fi
	pg initdb -D "$PG_DIR/data" -U postgres --auth=trust -E UTF8 --locale=C >"$PG_DIR/initdb.log" 2>&1
	# shellcheck disable=SC2086
	pg pg_ctl -D "$PG_DIR/data" -l "$PG_DIR/server.log" -w -t 60 \
		-o "-p $PG_PORT -c listen_addresses=127.0.0.1 -k $PG_DIR -c max_connections=200 ${PG_OPTS:-}" start >/dev/null
	pg psql -h 127.0.0.1 -p "$PG_PORT" -U postgres -qc 'CREATE DATABASE sluice' >/dev/null
}
stop_pg() {
	[[ -n $PG_DIR ]] || return 0
	pg pg_ctl -D "$PG_DIR/data" -m fast -w -t 60 stop >/dev/null || true
	rm -rf "$PG_DIR"
	PG_DIR=""
}
