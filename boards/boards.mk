# Board-level targets, included by the top Makefile:
#   make cross-deps                  install cross toolchains, foreign libraries, qemu-user
#   make BOARD=x board-test          unit tests built for board x, run under its emulator
#   make cross-test                  cross-deps + board-test of every cross board (in make test)
#   make BOARD=x deb                 Debian package of board x into build/x/
#   make BOARD=x size-report         stripped size with all features, then each one off
#   make arm64-smoke                 the arm64 eddy under qemu-aarch64 serving kcat (part of integration)
#   make service-test                the installed .deb under a private systemd (part of integration)
include boards/cross.mk

CROSS_BOARDS := rpi-arm64 rpi-armhf
# Emulator prefix for running the board's binaries here; empty for the host.
QEMU ?=
DEB_ARCH ?= $(shell dpkg --print-architecture)
ED_VERSION_STR := $(shell sed -n 's/^\#define ED_VERSION "\(.*\)"/\1/p' tools/eddy.c)

.PHONY: cross-deps board-test cross-test deb size-report arm64-smoke service-test

cross-deps:
	@CROSS_DEV_PKGS="$(CROSS_DEV_PKGS)" CROSS_ARCHES="$(CROSS_ARCHES)" sh tools/install-cross.sh

# ---- unit tests for a board: the board's own compiler, flags and library
# objects, no sanitizers (they do not run under qemu-user) ----
BOARD_TEST_BUILD := $(BUILD)/tests
BOARD_TEST_BIN := $(UNIT_SRC:tests/unit/%.c=$(BOARD_TEST_BUILD)/%)
CMOCKA_CFLAGS := $(shell $(PKG_CONFIG) --cflags cmocka 2>/dev/null)
CMOCKA_LIBS := $(shell $(PKG_CONFIG) --libs cmocka 2>/dev/null || echo -lcmocka)
BOARD_TEST_TIMEOUT ?= 600

$(BOARD_TEST_BUILD)/%: tests/unit/%.c $(UNIT_SUPPORT) $(BUILD)/libeddy.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) $(CMOCKA_CFLAGS) -Itests/unit -o $@ $< $(UNIT_SUPPORT) \
	  $(BUILD)/libeddy.a $(CMOCKA_LIBS) $(LIBS)

board-test: $(BUILD)/eddy $(BOARD_TEST_BIN)
	@set -e; echo "== $(BOARD): eddy version"; $(QEMU) $(BUILD)/eddy version; \
	for t in $(BOARD_TEST_BIN); do echo "== $(BOARD): $$t"; \
	  timeout $(BOARD_TEST_TIMEOUT) $(QEMU) $$t; done

cross-test: cross-deps
	@set -e; for b in $(CROSS_BOARDS); do \
	  $(MAKE) --no-print-directory BOARD=$$b board-test; done

# ---- Debian package: binary, default config, systemd unit, eddy user ----
deb: $(BUILD)/eddy
	@STRIP=$(CROSS_COMPILE)strip sh tools/mkdeb.sh $(BUILD)/eddy $(DEB_ARCH) $(ED_VERSION_STR) \
	  $(BOARD) $(BUILD)/eddy_$(ED_VERSION_STR)_$(DEB_ARCH).deb

# ---- size with every WITH_<feature> switch, each built apart ----
FEATURES = $(shell sed -n 's/^WITH_\([A-Z0-9_]*\) *?= *1.*/\1/p' Makefile $(wildcard boards/*.mk tests/*/*.mk))
size-report:
	@SIZE=$(CROSS_COMPILE)size sh tools/size-report.sh "$(BOARD)" "$(BUILD)" $(FEATURES)

# ---- the two board checks of the integration suite, alone ----
arm64-smoke: cross-deps
	@$(MAKE) --no-print-directory BOARD=rpi-arm64 && $(MAKE) --no-print-directory BOARD=host
	@bash tests/integration/run.sh tests/integration/test_arm64_smoke.py

service-test:
	@$(MAKE) --no-print-directory BOARD=host
	@bash tests/integration/run.sh tests/integration/test_deb.py
