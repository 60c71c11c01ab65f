#!/bin/sh
# Installs the Debian packages Eddy needs to build and test, if any are
# missing. Run as root it installs them; otherwise it prints the command.
set -e
need="gcc make pkg-config libzstd-dev libcmocka-dev clang libclang-rt-14-dev cppcheck clang-tidy clang-format zlib1g-dev liblz4-dev libmbedtls-dev libcoap3-dev"
missing=""
for p in $need; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" = 0 ]; then
    echo "installing build dependencies:$missing"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    # shellcheck disable=SC2086
    apt-get install -y -qq $missing >/dev/null
else
    echo "missing build dependencies:$missing" >&2
    echo "run: sudo apt-get install$missing" >&2
    exit 1
fi
