# Private PostgreSQL clusters run as the postgres user, Unix socket only; sourced by deploy/up
# and tests/run (bash). Layout of a cluster DIR: DIR/data, DIR/run (socket), DIR/log.

wb_pg_bindir() {
    local d
    if [ -x /usr/lib/postgresql/15/bin/pg_ctl ]; then
        echo /usr/lib/postgresql/15/bin
        return 0
    fi
    for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
        [ -x "$d/pg_ctl" ] && echo "$d" && return 0
    done
    echo "error: no PostgreSQL server binaries under /usr/lib/postgresql" >&2
    return 1
}

# Runs a PostgreSQL program as the postgres user.
wb_pg_as() {
    local bin
    bin=$(wb_pg_bindir) || return 1
    local prog=$1
    shift
    (cd / && runuser -u postgres -- "$bin/$prog" "$@")
}

# Grants o+x on every ancestor of DIR that the postgres user cannot traverse; one line each.
wb_pg_grant_traverse() {
    local dir=$1 d=""
    local IFS=/
    for part in $dir; do
        [ -z "$part" ] && continue
        d="$d/$part"
        [ -d "$d" ] || break
        if ! runuser -u postgres -- test -x "$d"; then
            chmod o+x "$d" || return 1
            echo "note: granted o+x on $d so that the postgres user can reach $dir"
        fi
    done
}

# Creates the cluster if DIR/data holds none. Settings live in data/warbler.conf, rewritten
# at each start so that a moved directory keeps working.
wb_pg_init() {
    local dir=$1
    mkdir -p "$dir/data" "$dir/run" "$dir/log" || return 1
    chown postgres:postgres "$dir" "$dir/data" "$dir/run" "$dir/log" || return 1
    chmod 0700 "$dir" "$dir/data" "$dir/run" || return 1
    [ -f "$dir/data/PG_VERSION" ] && return 0
    echo "==> creating PostgreSQL cluster in $dir/data"
    wb_pg_as initdb -D "$dir/data" -U postgres --auth=trust --encoding=UTF8 --locale=C.UTF-8 \
        >"$dir/log/initdb.log" 2>&1 || { cat "$dir/log/initdb.log" >&2; return 1; }
    echo "include_if_exists = 'warbler.conf'" >>"$dir/data/postgresql.conf"
}

wb_pg_write_settings() {
    local dir=$1
    cat >"$dir/data/warbler.conf" <<EOF || return 1
# Written by deploy/lib/pg.sh at each start; edit postgresql.conf for other settings.
listen_addresses = ''
unix_socket_directories = '$dir/run'
unix_socket_permissions = 0700
EOF
    chown postgres:postgres "$dir/data/warbler.conf"
}

wb_pg_running() {
    wb_pg_as pg_ctl -D "$1/data" status >/dev/null 2>&1
}

# Starts the cluster and waits for it. Sets WB_PG_STARTED=1 if it was started here, 0 if it
# was already running (the caller should then leave it running).
wb_pg_start() {
    local dir=$1
    WB_PG_STARTED=0
    if wb_pg_running "$dir"; then
        echo "==> PostgreSQL in $dir already running, reusing it"
        return 0
    fi
    wb_pg_write_settings "$dir" || return 1
    echo "==> starting PostgreSQL ($dir/data, socket in $dir/run)"
    if ! wb_pg_as pg_ctl -D "$dir/data" -l "$dir/log/postgresql.log" -w -t 60 -s start; then
        echo "error: PostgreSQL did not start; last lines of $dir/log/postgresql.log:" >&2
        tail -n 20 "$dir/log/postgresql.log" >&2
        return 1
    fi
    WB_PG_STARTED=1
}

# Waits until the server accepts connections on its socket (default 30 s).
wb_pg_wait() {
    local dir=$1 timeout=${2:-30} i
    for ((i = 0; i < timeout * 5; i++)); do
        wb_pg_as pg_isready -q -h "$dir/run" -U postgres && return 0
        sleep 0.2
    done
    echo "error: PostgreSQL on $dir/run not ready after ${timeout}s" >&2
    return 1
}

wb_pg_stop() {
    local dir=$1
    wb_pg_running "$dir" || return 0
    echo "==> stopping PostgreSQL ($dir/data)"
    wb_pg_as pg_ctl -D "$dir/data" -m fast -w -t 60 -s stop
}

# Creates database NAME if it does not exist.
wb_pg_createdb() {
    local dir=$1 name=$2 found
    found=$(echo "SELECT 1 FROM pg_database WHERE datname = :'name';" |
        wb_pg_as psql -h "$dir/run" -U postgres -d postgres -tAq -v name="$name") || return 1
    [ "$found" = 1 ] && return 0
    echo "==> creating database $name"
    wb_pg_as createdb -h "$dir/run" -U postgres "$name"
}
