# Raspberry Pi 3/4/5 with a 64-bit OS (Debian/Raspberry Pi OS arm64):
# Debian's aarch64 cross toolchain against the arm64 multiarch libraries.
include boards/cross.mk
DEB_ARCH := arm64
CROSS_COMPILE ?= aarch64-linux-gnu-
# Cortex-A53 (Pi 3) is the oldest core; every one of them has the CRC32 instructions.
BOARD_CFLAGS ?= -march=armv8-a+crc
BOARD_LIBS ?=
PKG_CONFIG := PKG_CONFIG_LIBDIR=/usr/lib/aarch64-linux-gnu/pkgconfig:/usr/share/pkgconfig pkg-config
# Runs a target binary here (user-mode emulation, no binfmt_misc needed)
# with the multiarch libc6:arm64 that install-cross.sh installs, so that
# ld.so, libc and the -dev libraries all come from the same glibc build
# (-L /usr/aarch64-linux-gnu would pair the cross package's older ld.so with the
# newer multiarch libc found through ld.so.cache: threads then hang).
QEMU ?= qemu-aarch64 -L /
SIZE_BUDGET ?= 1572864
