#!/bin/sh
# Installs what cross-building and emulated testing of the boards need:
# Debian's cross compilers, each -dev library for every board architecture
# (multiarch, next to the native one), and qemu user-mode emulation.
# Usage: install-cross.sh [-n]   (-n: only report what is missing)
# CROSS_DEV_PKGS and CROSS_ARCHES come from boards/cross.mk (make passes
# them; run directly, the script reads that file). Idempotent: with
# everything present it changes nothing and asks no package server.
set -e
cd "$(dirname "$0")/.."
mkvar() { sed -n "s/^$1 *:\{0,1\}= *//p" boards/cross.mk; }
pkgs=${CROSS_DEV_PKGS:-$(mkvar CROSS_DEV_PKGS)}
arches=${CROSS_ARCHES:-$(mkvar CROSS_ARCHES)}
[ -n "$pkgs" ] && [ -n "$arches" ] || { echo "install-cross: no package list in boards/cross.mk" >&2; exit 1; }

native=$(dpkg --print-architecture)
need="qemu-user"
for a in $arches; do
    case $a in
    arm64) need="$need gcc-aarch64-linux-gnu libc6-dev-arm64-cross" ;;
    armhf) need="$need gcc-arm-linux-gnueabihf libc6-dev-armhf-cross" ;;
    *) echo "install-cross: no toolchain known for $a" >&2; exit 1 ;;
    esac
done
# Multi-Arch: same packages must have one version across architectures, so
# the native -dev package is named in the same install as the foreign ones.
# libc6 of each architecture: what emulated test runs load (see QEMU in
# the board files).
for a in $arches; do need="$need libc6:$a"; done
for p in $pkgs; do
    need="$need $p:$native"
    for a in $arches; do need="$need $p:$a"; done
done

installed() {
    dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"
}
missing=""
for p in $need; do installed "$p" || missing="$missing $p"
done
missing_arch=""
for a in $arches; do
    dpkg --print-foreign-architectures | grep -qx "$a" || missing_arch="$missing_arch $a"
done
[ -z "$missing$missing_arch" ] && exit 0
if [ "$1" = "-n" ] || [ "$(id -u)" != 0 ]; then
    echo "missing cross-build dependencies:$missing_arch$missing" >&2
    echo "run as root: sh tools/install-cross.sh" >&2
    exit 1
fi
for a in $missing_arch; do dpkg --add-architecture "$a"; done
export DEBIAN_FRONTEND=noninteractive
echo "installing cross-build dependencies:$missing"
# A mirror caught mid-sync fails one index; retry, then let the install
# itself decide whether what it needs is there.
apt-get update -qq >/dev/null || { sleep 5; apt-get update -qq >/dev/null; } ||
    echo "install-cross: apt-get update reported errors, trying the install anyway" >&2
# Multi-Arch: same packages (libc6, linux-libc-dev, libssl3...) must have one
# version on every architecture. The native ones may be newer than what the
# archive still offers for the foreign architectures (a security update the
# image got, a foreign index that failed to download): apt then refuses.
# Each package it names is pinned, on every architecture, to the newest
# version all of them can have, and the install is simulated again.
all_arches="$native $arches"
common_version() {
    best=""
    for v in $(apt-cache madison "$1:$native" 2>/dev/null | awk -F'|' '{gsub(/ /,"",$2); print $2}' | sort -u); do
        ok=1
        for a in $arches; do
            apt-cache madison "$1:$a" 2>/dev/null | awk -F'|' '{gsub(/ /,"",$2); print $2}' | grep -qxF "$v" || ok=0
        done
        [ $ok = 1 ] || continue
        if [ -z "$best" ] || dpkg --compare-versions "$v" gt "$best"; then best=$v; fi
    done
    echo "$best"
}
pins=""
tries=0
# shellcheck disable=SC2086
while ! out=$(apt-get install -s --no-install-recommends --allow-downgrades $need $pins 2>&1); do
    tries=$((tries + 1))
    names=$(echo "$out" | grep -o 'Depends: [^ ]*' | sed 's/Depends: //; s/:.*//' | sort -u)
    added=""
    for n in $names; do
        case " $pins " in *" $n:$native="*) continue ;; esac
        v=$(common_version "$n")
        [ -n "$v" ] || continue
        for a in $all_arches; do pins="$pins $n:$a=$v"; done
        added="$added $n=$v"
    done
    if [ -z "$added" ] || [ $tries -ge 10 ]; then
        echo "$out" >&2
        echo "install-cross: cannot find versions installable on: $all_arches" >&2
        exit 1
    fi
    echo "aligning versions across architectures:$added"
done
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends --allow-downgrades $need $pins >/dev/null
for p in $need; do
    installed "$p" || { echo "install-cross: $p did not install" >&2; exit 1; }
done
