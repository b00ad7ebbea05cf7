#!/bin/sh
# warblerctl end to end against a real PostgreSQL: WB_TEST_PGHOST names its socket directory.
# Usage: tests/integ/test_warblerctl.sh [path/to/warblerctl]. Not a test of warblerd.
set -u

CTL=$(realpath "${1:-build/warblerctl}")
if [ -z "${WB_TEST_PGHOST:-}" ]; then
    echo "test_warblerctl: WB_TEST_PGHOST must name a PostgreSQL socket directory" >&2
    exit 1
fi
DB="wb_test_ctl_$$"
WORK=$(mktemp -d)
FAILS=0
psql_admin() { psql -X -q -h "$WB_TEST_PGHOST" -U postgres -d postgres -c "$1" >/dev/null; }
cleanup() { psql_admin "DROP DATABASE IF EXISTS $DB WITH (FORCE)"; rm -rf "$WORK"; }
trap cleanup EXIT
psql_admin "CREATE DATABASE $DB" || exit 1

mkdir -p "$WORK/var"
cat >"$WORK/var/warbler.conf" <<EOF
storage = { dsn = "host=$WB_TEST_PGHOST dbname=$DB user=postgres"; };
hosts = ( { domain = "localhost"; cert = "c.pem"; key = "k.pem"; } );
EOF
cd "$WORK" || exit 1
printf 'secret\n' >pw
: >empty

# check CODE CMD...: runs CMD (stdout in out, stderr in err) and checks its exit status.
check() {
    want=$1
    shift
    "$@" >out 2>err
    rc=$?
    if [ "$rc" != "$want" ]; then
        echo "FAIL: $* -> exit $rc, want $want (stderr: $(cat err))"
        FAILS=$((FAILS + 1))
    fi
}

check 0 "$CTL" --help
check 2 "$CTL"
check 2 "$CTL" user frobnicate alice@localhost
check 2 "$CTL" user add
check 0 "$CTL" user add Alice@LocalHost --password-file pw
grep -qx 'created alice@localhost' out || { echo "FAIL: add output: $(cat out)"; FAILS=$((FAILS + 1)); }
check 1 "$CTL" user add alice@localhost --password-file pw
grep -qx 'account alice@localhost already exists' err || { echo "FAIL: dup: $(cat err)"; FAILS=$((FAILS + 1)); }
check 1 "$CTL" user add bob@example.org --password-file pw
grep -qx 'unknown domain example.org' err || { echo "FAIL: domain: $(cat err)"; FAILS=$((FAILS + 1)); }
check 1 "$CTL" user add bob@localhost/res --password-file pw
check 1 "$CTL" user add bob@localhost --password-file empty
printf 'from-stdin\n' >pw2
check 0 "$CTL" user add bob@localhost <pw2
check 0 "$CTL" -c var/warbler.conf user list
[ "$(cat out)" = "$(printf 'alice@localhost\nbob@localhost')" ] || { echo "FAIL: list: $(cat out)"; FAILS=$((FAILS + 1)); }
check 0 "$CTL" user list localhost
check 0 "$CTL" user passwd alice@localhost --password-file pw
check 1 "$CTL" user passwd carol@localhost --password-file pw
grep -qx 'no such account carol@localhost' err || { echo "FAIL: passwd: $(cat err)"; FAILS=$((FAILS + 1)); }
check 0 "$CTL" user delete bob@localhost
check 1 "$CTL" user delete bob@localhost
grep -qx 'no such account bob@localhost' err || { echo "FAIL: delete: $(cat err)"; FAILS=$((FAILS + 1)); }
check 0 "$CTL" user list
[ "$(cat out)" = "alice@localhost" ] || { echo "FAIL: list after delete: $(cat out)"; FAILS=$((FAILS + 1)); }
check 1 "$CTL" -c missing.conf user list

# Commands shared with the admin API, without a running daemon.
check 0 "$CTL" user disable alice@localhost
grep -qx 'warblerd is not running: no live session to close' out || { echo "FAIL: disable: $(cat out)"; FAILS=$((FAILS + 1)); }
check 0 "$CTL" user list
[ "$(cat out)" = "alice@localhost (disabled)" ] || { echo "FAIL: list disabled: $(cat out)"; FAILS=$((FAILS + 1)); }
check 0 "$CTL" user enable alice@localhost
check 1 "$CTL" user disable carol@localhost
grep -qx 'no such account carol@localhost' err || { echo "FAIL: disable carol: $(cat err)"; FAILS=$((FAILS + 1)); }
check 1 "$CTL" sessions list
grep -q '^cannot reach warblerd at .*warblerd-ctl.sock' err || { echo "FAIL: sessions: $(cat err)"; FAILS=$((FAILS + 1)); }
check 1 "$CTL" stats
check 2 "$CTL" sessions kick
check 2 "$CTL" stats extra
check 0 "$CTL" gdpr export alice@localhost --out export.json
[ "$(stat -c %a export.json)" = 600 ] || { echo "FAIL: export mode $(stat -c %a export.json)"; FAILS=$((FAILS + 1)); }
grep -q '"kind": "export"' export.json || { echo "FAIL: export content"; FAILS=$((FAILS + 1)); }
check 1 "$CTL" gdpr export alice@localhost --out export.json
check 2 "$CTL" gdpr erase alice@localhost
check 2 "$CTL" gdpr export
check 0 "$CTL" gdpr requests
[ "$(cut -f2-4 out)" = "$(printf 'export\talice@localhost\tcompleted')" ] || { echo "FAIL: requests: $(cat out)"; FAILS=$((FAILS + 1)); }
check 0 "$CTL" gdpr erase alice@localhost --yes
check 1 "$CTL" gdpr erase alice@localhost --yes
check 0 "$CTL" user list
[ -z "$(cat out)" ] || { echo "FAIL: list after erase: $(cat out)"; FAILS=$((FAILS + 1)); }

if [ "$FAILS" -ne 0 ]; then
    echo "test_warblerctl: $FAILS failure(s)"
    exit 1
fi
echo "test_warblerctl: all passed"
