# The machine Eddy is built on (native toolchain, all features).
BOARD_CFLAGS ?=
BOARD_LIBS ?=
SIZE_BUDGET ?= 4194304
