# Debian package check and install, sourced by deploy/up and tests/run (bash).
# Installs only what dpkg-query reports missing; never upgrades or removes anything.

# Packages needed to build and run Warbler.
WB_PKGS_RUNTIME=(build-essential cmake pkg-config libevent-dev libssl-dev libexpat1-dev
    libsodium-dev libpq-dev libconfig-dev libidn-dev libcmocka-dev libstrophe-dev
    libmicrohttpd-dev libjansson-dev liboath-dev libunbound-dev postgresql openssl)
# Extra packages needed only by tests/run.
WB_PKGS_TEST=(python3-slixmpp python3-omemo python3-oldmemo python3-twomemo clang
    libclang-rt-14-dev prosody ejabberd chromium nsd ldnsutils iproute2)
# The console test drives Chromium with playwright-core from npm: a machine that has its own
# Node.js and npm (as CI's does) keeps them; Debian's npm would conflict with them.
command -v npm >/dev/null 2>&1 || WB_PKGS_TEST+=(nodejs npm)

wb_pkg_missing() {
    local p
    for p in "$@"; do
        if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
            printf '%s\n' "$p"
        fi
    done
}

# Installs the missing packages among "$@" with one apt-get update. While installing, a
# temporary policy-rc.d (only if none exists) keeps postgresql from starting its system cluster
# (and nsd, prosody, ejabberd their system services: the tests run private instances).
wb_pkg_ensure() {
    local missing policy=/usr/sbin/policy-rc.d own_policy=0 rc=0
    mapfile -t missing < <(wb_pkg_missing "$@")
    [ "${#missing[@]}" -eq 0 ] && return 0
    echo "==> installing Debian packages: ${missing[*]}"
    if [ "$(id -u)" -ne 0 ]; then
        echo "error: missing packages and not root; run: apt-get install ${missing[*]}" >&2
        return 1
    fi
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 0755 "$policy" && own_policy=1
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q || rc=$?
    if [ "$rc" -eq 0 ]; then
        apt-get install -y -q --no-install-recommends "${missing[@]}" || rc=$?
    fi
    [ "$own_policy" -eq 1 ] && rm -f "$policy"
    return "$rc"
}
