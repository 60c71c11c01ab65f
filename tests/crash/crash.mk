# Crash tests: the simulated platform (PORT=sim) at random crash points, and
# kill -9 of a real process with a separate verifier.
#
# build/sim/libeddy.a: storage + platform common + platform/sim + core/,
# ASan/UBSan.
# tests/crash/sim_*.c     programs linked against it (build/sim/tests/)
# tests/crash/posix_*.c   programs on the real file system, linked against the
#                         sanitized POSIX library (build/san/crash/)
# tests/crash/common_*.c  helpers linked into both kinds
# `make crash` runs tests/crash/run.sh at smoke length; CRASH_ITERATIONS=n
# makes it longer.
SIM_BUILD := build/sim
# plus all of core/: an archive, so each program links only the members it
# needs, and a new core module never has to be listed here
SIM_LIB_SRC := $(filter-out platform/memnet.c,$(wildcard platform/*.c)) $(wildcard platform/sim/*.c) \
	$(wildcard storage/*.c) $(wildcard core/*.c) $(wildcard core/kafka/*.c)
SIM_LIB_OBJ := $(SIM_LIB_SRC:%.c=$(SIM_BUILD)/obj/%.o)
CRASH_SUPPORT := $(wildcard tests/crash/common_*.c)
CRASH_HDRS := $(wildcard tests/crash/*.h)
CRASH_SIM_SRC := $(wildcard tests/crash/sim_*.c)
CRASH_SIM_BIN := $(CRASH_SIM_SRC:tests/crash/%.c=$(SIM_BUILD)/tests/%)
CRASH_POSIX_SRC := $(wildcard tests/crash/posix_*.c)
CRASH_POSIX_BIN := $(CRASH_POSIX_SRC:tests/crash/%.c=$(SAN_BUILD)/crash/%)

$(SIM_BUILD)/obj/%.o: %.c $(HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(SAN_CFLAGS) -c $< -o $@

$(SIM_BUILD)/libeddy.a: $(SIM_LIB_OBJ)
	@rm -f $@
	$(AR) rcs $@ $^

$(SIM_BUILD)/tests/%: tests/crash/%.c $(CRASH_SUPPORT) $(CRASH_HDRS) $(SIM_BUILD)/libeddy.a
	@mkdir -p $(dir $@)
	$(CC) $(SAN_CFLAGS) -Itests/crash -o $@ $< $(CRASH_SUPPORT) $(SIM_BUILD)/libeddy.a \
	  -lcmocka $(LIBS)

$(SAN_BUILD)/crash/%: tests/crash/%.c $(CRASH_SUPPORT) $(CRASH_HDRS) $(SAN_BUILD)/libeddy.a
	@mkdir -p $(dir $@)
	$(CC) $(SAN_CFLAGS) -Itests/crash -o $@ $< $(CRASH_SUPPORT) $(SAN_BUILD)/libeddy.a $(LIBS)

.PHONY: crash-build
crash-build: $(CRASH_SIM_BIN) $(CRASH_POSIX_BIN)

crash: crash-build
	@bash tests/crash/run.sh
