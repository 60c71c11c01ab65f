# Raspberry Pi 3/4/5 with a 64-bit OS (Debian/Raspberry Pi OS arm64):
# Debian's aarch64 cross toolchain against the arm64 multiarch libraries.
include boards/cross.mk
DEB_ARCH := arm64
CROSS_COMPILE ?= aarch64-linux-gnu-
# Cortex-A53 (Pi 3) is the oldest core; every one of them has the CRC32 instructions.
BOARD_CFLAGS ?= -march=armv8-a+crc
BOARD_LIBS ?=
PKG_CONFIG := PKG_CONFIG_LIBDIR=/usr/lib/aarch64-linux-gnu/pkgconfig:/usr/share/pkgconfig pkg-config
# Runs a target binary on the build machine (user-mode emulation, no binfmt_misc needed).
QEMU ?= qemu-aarch64 -L /usr/aarch64-linux-gnu
SIZE_BUDGET ?= 1572864
