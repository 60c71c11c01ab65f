#!/bin/sh
# Builds the Debian package of one board with plain dpkg-deb: the stripped
# binary, the default config (boards/<board>/eddy.properties if the board has
# its own, else boards/debian/), the systemd unit, the maintainer scripts
# that create the eddy user, and the operations guide. Library dependencies
# come from dpkg-shlibdeps against the board architecture's libraries, plus
# libcoap3, which the binary loads at run time.
# Usage: mkdeb.sh BINARY DEB_ARCH VERSION BOARD OUT.deb   (STRIP: the board's strip)
set -e
bin=$1; arch=$2; version=$3; board=$4; out=$5
[ -n "$out" ] && [ -n "$version" ] && [ -f "$bin" ] || { echo "usage: mkdeb.sh BINARY ARCH VERSION BOARD OUT" >&2; exit 2; }
cd "$(dirname "$0")/.."
case $out in /*) ;; *) out=$PWD/$out ;; esac
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
root=$tmp/root

install -d "$root/DEBIAN" "$root/usr/bin" "$root/etc/eddy" "$root/lib/systemd/system" \
    "$root/usr/share/doc/eddy"
install -m 0755 "$bin" "$root/usr/bin/eddy"
${STRIP:-strip} --strip-unneeded --remove-section=.comment "$root/usr/bin/eddy"
conf=boards/$board/eddy.properties
[ -f "$conf" ] || conf=boards/debian/eddy.properties
install -m 0644 "$conf" "$root/etc/eddy/eddy.properties"
install -m 0644 boards/debian/eddy.service "$root/lib/systemd/system/eddy.service"
for s in postinst prerm postrm; do install -m 0755 "boards/debian/$s" "$root/DEBIAN/$s"; done
echo /etc/eddy/eddy.properties >"$root/DEBIAN/conffiles"
for d in docs/operations.md README.md; do
    [ -f "$d" ] && install -m 0644 "$d" "$root/usr/share/doc/eddy/"
done

# Shared-library dependencies with minimum versions from the symbols files
# of the target architecture's installed libraries (multiarch).
mkdir -p "$tmp/src/debian"
printf 'Source: eddy\n\nPackage: eddy\nArchitecture: any\n' >"$tmp/src/debian/control"
shlibs=$(cd "$tmp/src" && DEB_HOST_ARCH=$arch dpkg-shlibdeps -O "$root/usr/bin/eddy" 2>"$tmp/shlibdeps.err" |
    sed -n 's/^shlibs:Depends=//p') || true
if [ -z "$shlibs" ]; then
    cat "$tmp/shlibdeps.err" >&2
    echo "mkdeb: dpkg-shlibdeps found no library dependencies for $arch" >&2
    exit 1
fi
# libcoap is loaded at run time (dlopen), so the linker recorded no need of
# it: a binary naming its libraries depends on the package holding them
# (the version of libcoap3's shlibs file).
if grep -qF 'libcoap-3-notls.so.3' "$root/usr/bin/eddy"; then
    shlibs="$shlibs, libcoap3 (>= 4.3.1)"
fi

size_kb=$(du -sk --exclude=DEBIAN "$root" | cut -f1)
cat >"$root/DEBIAN/control" <<CONTROL
Package: eddy
Version: $version
Architecture: $arch
Maintainer: ${DEB_MAINTAINER:-Eddy maintainers <maintainers@eddy.invalid>}
Installed-Size: $size_kb
Depends: $shlibs, adduser
Section: net
Priority: optional
Description: small streaming broker for edge gateways
 Eddy keeps sensor streams in a durable Kafka-style log on flash (topics,
 partitions, offsets, retention) and serves unmodified Kafka clients. It is
 built for Raspberry Pi-class boards: one small binary, a few MB of memory.
 .
 This package runs it as the systemd service eddy (user eddy, data in
 /var/lib/eddy, configuration in /etc/eddy/eddy.properties).
CONTROL
SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}
export SOURCE_DATE_EPOCH
dpkg-deb --root-owner-group -Zxz --build "$root" "$out" >/dev/null
echo "deb: $out"
