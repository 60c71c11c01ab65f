# Raspberry Pi Zero 2 W / 3 with a 32-bit OS (Debian armhf: ARMv7, VFPv3-D16,
# Thumb-2): Debian's armhf cross toolchain against the armhf multiarch
# libraries. time_t and file offsets are 64-bit (glibc >= 2.34), so dates
# past 2038 and segments past 2 GiB work on 32-bit ARM too.
include boards/cross.mk
DEB_ARCH := armhf
CROSS_COMPILE ?= arm-linux-gnueabihf-
BOARD_CFLAGS ?= -march=armv7-a -mfpu=vfpv3-d16 -mfloat-abi=hard -D_FILE_OFFSET_BITS=64 -D_TIME_BITS=64
BOARD_LIBS ?=
PKG_CONFIG := PKG_CONFIG_LIBDIR=/usr/lib/arm-linux-gnueabihf/pkgconfig:/usr/share/pkgconfig pkg-config
# Runs a target binary here (user-mode emulation, no binfmt_misc needed)
# with the multiarch libc6:armhf that install-cross.sh installs, so that
# ld.so, libc and the -dev libraries all come from the same glibc build
# (-L /usr/arm-linux-gnueabihf would pair the cross package's older ld.so with the
# newer multiarch libc found through ld.so.cache: threads then hang).
QEMU ?= qemu-arm -L /
SIZE_BUDGET ?= 1572864
