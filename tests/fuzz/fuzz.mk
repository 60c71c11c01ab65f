# libFuzzer targets: every tests/fuzz/fuzz_*.c, linked against the library
# built with clang and ASan/UBSan. `make fuzz-smoke` runs each briefly
# (FUZZ_RUNS iterations) as part of make test; `make fuzz FUZZ_TIME=600`
# runs them longer. Seeds: tests/fuzz/seeds/<target>/.
FUZZ_CC ?= clang
FUZZ_BUILD := build/fuzz
FUZZ_RUNS ?= 20000
FUZZ_TIME ?= 60
FUZZ_SRC := $(wildcard tests/fuzz/fuzz_*.c)
ifeq ($(WITH_MQTT),0)
FUZZ_SRC := $(filter-out tests/fuzz/fuzz_mqtt%.c,$(FUZZ_SRC))
endif
ifeq ($(WITH_COAP),0)
FUZZ_SRC := $(filter-out tests/fuzz/fuzz_coap.c,$(FUZZ_SRC))
endif
FUZZ_BIN := $(FUZZ_SRC:tests/fuzz/%.c=$(FUZZ_BUILD)/%)
FUZZ_CFLAGS := $(filter-out -O2 -Werror,$(CFLAGS_BASE)) -O1 -DED_FUZZING=1
FUZZ_LIB_OBJ := $(LIB_SRC:%.c=$(FUZZ_BUILD)/obj/%.o) $(FUZZ_BUILD)/obj/gen/http_assets_gen.o

$(FUZZ_BUILD)/obj/%.o: %.c $(HDRS)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link,address,undefined -c $< -o $@

$(FUZZ_BUILD)/obj/gen/%.o: $(BUILD)/gen/%.c bridge/http_assets.h bridge/http_parse.h platform/base.h
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link,address,undefined -c $< -o $@

$(FUZZ_BUILD)/libeddy.a: $(FUZZ_LIB_OBJ)
	@rm -f $@
	$(AR) rcs $@ $^

# Targets driving listeners use the unit tests' client on the simulated
# network (tests/unit/tconn.c) and broker assembled by hand (tbroker.c).
$(FUZZ_BUILD)/%: tests/fuzz/%.c tests/unit/tconn.c tests/unit/tbroker.c $(FUZZ_BUILD)/libeddy.a
	$(FUZZ_CC) $(FUZZ_CFLAGS) -Itests/unit -fsanitize=fuzzer,address,undefined -o $@ $< tests/unit/tconn.c tests/unit/tbroker.c $(FUZZ_BUILD)/libeddy.a $(LIBS)

# Targets that need the simulated platform (in-memory files) instead of POSIX.
FUZZ_SIM_TARGETS := fuzz_recovery
FUZZ_SIM_SRC := $(filter-out platform/memnet.c platform/tls.c platform/tls_none.c platform/crypto.c,$(wildcard platform/*.c)) $(wildcard platform/sim/*.c) $(wildcard storage/*.c)
$(FUZZ_SIM_TARGETS:%=$(FUZZ_BUILD)/%): $(FUZZ_BUILD)/%: tests/fuzz/%.c $(FUZZ_SIM_SRC) $(HDRS)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer,address,undefined -o $@ $< $(FUZZ_SIM_SRC) $(LIBS)

fuzz-smoke: $(FUZZ_BIN)
	@set -e; for f in $(FUZZ_BIN); do n=$$(basename $$f); mkdir -p build/fuzz/corpus/$$n; \
	  echo "== $$n ($(FUZZ_RUNS) runs)"; \
	  log=build/fuzz/$$n.log; \
	  if ! $$f -runs=$(FUZZ_RUNS) -max_len=65536 -artifact_prefix=build/fuzz/$$n- build/fuzz/corpus/$$n \
	    $$(ls -d tests/fuzz/seeds/$$n 2>/dev/null) >$$log 2>&1; then \
	    tail -n 60 $$log; echo "fuzz-smoke: $$n failed (the input is build/fuzz/$$n-*)"; exit 1; fi; \
	  tail -n 2 $$log; done

fuzz: $(FUZZ_BIN)
	@set -e; for f in $(FUZZ_BIN); do n=$$(basename $$f); mkdir -p build/fuzz/corpus/$$n; \
	  $$f -max_total_time=$(FUZZ_TIME) build/fuzz/corpus/$$n $$(ls -d tests/fuzz/seeds/$$n 2>/dev/null); done
