# Shared by the cross-compiled boards: the Debian -dev packages whose
# libraries and headers Eddy builds against. tools/install-cross.sh installs
# each of them for every cross architecture (pkg:arm64, pkg:armhf) next to
# the native one. A new library dependency is added here once.
CROSS_DEV_PKGS := libzstd-dev libcmocka-dev zlib1g-dev liblz4-dev libmbedtls-dev libcoap3-dev
# The Debian architectures of the boards under boards/ that cross-compile.
CROSS_ARCHES := arm64 armhf
