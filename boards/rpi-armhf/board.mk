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
QEMU ?= qemu-arm -L /usr/arm-linux-gnueabihf
SIZE_BUDGET ?= 1572864
