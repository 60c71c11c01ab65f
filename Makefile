# Eddy — one plain GNU Makefile.
#   make                 build build/eddy for this machine
#   make BOARD=x         build with boards/x/board.mk into build/x/
#   make test            unit tests (ASan/UBSan), fuzz smoke, crash tests, integration tests
#   make run             build and start the broker with defaults
# Features switch with WITH_<NAME>=0/1.

BOARD ?= host
include boards/$(BOARD)/board.mk

PORT ?= posix
ifeq ($(BOARD),host)
BUILD ?= build
else
BUILD ?= build/$(BOARD)
endif

ifeq ($(origin CC),default)
CC := $(CROSS_COMPILE)gcc
endif
AR ?= ar
ifeq ($(origin AR),default)
AR := $(CROSS_COMPILE)ar
endif
PKG_CONFIG ?= pkg-config

WITH_ZSTD ?= 1
WITH_GZIP ?= 1
WITH_LZ4 ?= 1
WITH_MQTT ?= 1
WITH_TLS ?= 1
WITH_COAP ?= 1

OPT ?= -O2
CFLAGS_BASE := -std=c11 -Wall -Wextra -Werror -Wundef -Wshadow -Wstrict-prototypes \
	-Wno-missing-field-initializers -g $(OPT) -I. $(BOARD_CFLAGS) \
	-DED_WITH_ZSTD=$(WITH_ZSTD) -DED_WITH_GZIP=$(WITH_GZIP) -DED_WITH_LZ4=$(WITH_LZ4) \
	-DED_WITH_MQTT=$(WITH_MQTT) -DED_WITH_TLS=$(WITH_TLS) -DED_WITH_COAP=$(WITH_COAP)
LIBS := -lpthread $(BOARD_LIBS)
ifeq ($(WITH_ZSTD),1)
CFLAGS_BASE += $(shell $(PKG_CONFIG) --cflags libzstd 2>/dev/null)
LIBS += $(shell $(PKG_CONFIG) --libs libzstd 2>/dev/null || echo -lzstd)
endif
ifeq ($(WITH_GZIP),1)
CFLAGS_BASE += $(shell $(PKG_CONFIG) --cflags zlib 2>/dev/null)
LIBS += $(shell $(PKG_CONFIG) --libs zlib 2>/dev/null || echo -lz)
endif
ifeq ($(WITH_LZ4),1)
CFLAGS_BASE += $(shell $(PKG_CONFIG) --cflags liblz4 2>/dev/null)
LIBS += $(shell $(PKG_CONFIG) --libs liblz4 2>/dev/null || echo -llz4)
endif
# Debian's mbedtls 2.28 ships no pkg-config file; linked shared. SCRAM's
# digests, HMAC and PBKDF2 (platform/crypto.c) need mbedcrypto always.
ifeq ($(WITH_TLS),1)
LIBS += -lmbedtls -lmbedx509 -lmbedcrypto
else
LIBS += -lmbedcrypto
endif
# The CoAP listener on libcoap: its headers only. platform/posix/coap.c
# loads the library at run time (dlopen, in glibc's libc since 2.34): the
# build without TLS, or the one with OpenSSL for coaps:// (DTLS-PSK);
# docs/architecture.md says why.
ifeq ($(WITH_COAP),1)
CFLAGS_BASE += $(shell $(PKG_CONFIG) --cflags libcoap-3-openssl 2>/dev/null)
endif
CFLAGS_ALL := $(CFLAGS_BASE) $(CFLAGS)
# Every symbol is bound at start-up (-z now), before serve lets go of the
# start-up code pages (platform/posix/code_pages.c): lazy binding would
# fault the dynamic linker and the libraries' symbol tables back in at each
# first call. docs/benchmarks.md, "The idle process", has the figures.
LINK_BIND := -Wl,-z,now

LIB_SRC := $(wildcard platform/*.c) $(wildcard platform/$(PORT)/*.c) \
	$(wildcard storage/*.c) $(wildcard core/*.c) $(wildcard core/kafka/*.c) $(wildcard bridge/*.c)
TOOL_SRC := $(wildcard tools/*.c)
ifeq ($(WITH_MQTT),0)
LIB_SRC := $(filter-out bridge/mqtt%,$(LIB_SRC))
endif
ifeq ($(WITH_COAP),0)
LIB_SRC := $(filter-out bridge/coap% platform/posix/coap.c,$(LIB_SRC))
endif
ifeq ($(WITH_TLS),0)
LIB_SRC := $(filter-out platform/tls.c,$(LIB_SRC))
else
LIB_SRC := $(filter-out platform/tls_none.c,$(LIB_SRC))
endif
# Headers and the config table's row files (core/config_keys_*.inc).
HDRS := $(shell find platform storage core bridge tools -name '*.h' -o -name '*.inc' 2>/dev/null)

# The dashboard's files (bridge/assets/), gzip-compressed into a generated C
# table (tools/mkassets.sh; no npm, no network); its object joins the library.
ASSETS := $(addprefix bridge/assets/,index.html app.js app.css uPlot.iife.min.js uPlot.min.css \
	uPlot.LICENSE.txt)
ASSETS_C = $(BUILD)/gen/http_assets_gen.c
$(BUILD)/gen/http_assets_gen.c: $(ASSETS) tools/mkassets.sh tools/eddy.c Makefile
	@mkdir -p $(dir $@)
	@echo "GEN $@"
	@sh tools/mkassets.sh $@ $(ED_VERSION_STR) $(ASSETS)

LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/obj/%.o) $(BUILD)/obj/gen/http_assets_gen.o
TOOL_OBJ := $(TOOL_SRC:%.c=$(BUILD)/obj/%.o)

.PHONY: all run test unit fuzz fuzz-smoke crash integration lint format format-check size clean deps layering bench-crc bench bench-mqtt soak soak-mirror kafka-schema bench-mirror bench-tls bench-coap bench-flash bench-pi bench-sd-check
all: $(BUILD)/eddy

$(BUILD)/obj/%.o: %.c $(HDRS)
	@mkdir -p $(dir $@)
	@echo "CC $<"
	@$(CC) $(CFLAGS_ALL) -c $< -o $@

$(BUILD)/obj/gen/%.o: $(BUILD)/gen/%.c bridge/http_assets.h bridge/http_parse.h platform/base.h
	@mkdir -p $(dir $@)
	@echo "CC $<"
	@$(CC) $(CFLAGS_ALL) -c $< -o $@

$(BUILD)/libeddy.a: $(LIB_OBJ)
	@rm -f $@
	$(AR) rcs $@ $^

$(BUILD)/eddy: $(TOOL_OBJ) $(BUILD)/libeddy.a
	$(CC) $(CFLAGS_ALL) $(LINK_BIND) $(LDFLAGS) -o $@ $(TOOL_OBJ) $(BUILD)/libeddy.a $(LIBS)

run: deps $(BUILD)/eddy
	$(BUILD)/eddy serve $(ARGS)

deps:
	@sh tools/install-deps.sh

# ---- unit tests: every tests/unit/test_*.c against the library, under ASan+UBSan ----
SAN_BUILD := build/san
SAN_FLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
SAN_CFLAGS := $(CFLAGS_BASE) -O1 $(SAN_FLAGS)
SAN_LIB_OBJ := $(LIB_SRC:%.c=$(SAN_BUILD)/obj/%.o) $(SAN_BUILD)/obj/gen/http_assets_gen.o
UNIT_SRC := $(wildcard tests/unit/test_*.c)
ifeq ($(WITH_MQTT),0)
UNIT_SRC := $(filter-out tests/unit/test_mqtt%.c,$(UNIT_SRC))
endif
ifeq ($(WITH_COAP),0)
UNIT_SRC := $(filter-out tests/unit/test_coap.c,$(UNIT_SRC))
endif
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(SAN_BUILD)/tests/%)
UNIT_SUPPORT := $(filter-out $(UNIT_SRC) tests/unit/test_%,$(wildcard tests/unit/*.c))

$(SAN_BUILD)/obj/%.o: %.c $(HDRS)
	@mkdir -p $(dir $@)
	@echo "CC (asan) $<"
	@$(CC) $(SAN_CFLAGS) -c $< -o $@

$(SAN_BUILD)/obj/gen/%.o: $(BUILD)/gen/%.c bridge/http_assets.h bridge/http_parse.h platform/base.h
	@mkdir -p $(dir $@)
	@echo "CC (asan) $<"
	@$(CC) $(SAN_CFLAGS) -c $< -o $@

$(SAN_BUILD)/libeddy.a: $(SAN_LIB_OBJ)
	@rm -f $@
	$(AR) rcs $@ $^

$(SAN_BUILD)/tests/%: tests/unit/%.c $(UNIT_SUPPORT) $(SAN_BUILD)/libeddy.a
	@mkdir -p $(dir $@)
	$(CC) $(SAN_CFLAGS) -Itests/unit -o $@ $< $(UNIT_SUPPORT) $(SAN_BUILD)/libeddy.a -lcmocka $(LIBS)

# The broker itself under ASan+UBSan, for the soak.
SAN_TOOL_OBJ := $(TOOL_SRC:%.c=$(SAN_BUILD)/obj/%.o)
$(SAN_BUILD)/eddy: $(SAN_TOOL_OBJ) $(SAN_BUILD)/libeddy.a
	$(CC) $(SAN_CFLAGS) -o $@ $(SAN_TOOL_OBJ) $(SAN_BUILD)/libeddy.a $(LIBS)

unit: $(UNIT_BIN)
	@set -e; for t in $(UNIT_BIN); do echo "== $$t"; \
	  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 $$t; done

include tests/fuzz/fuzz.mk
include tests/crash/crash.mk
include boards/boards.mk

# The arm64 smoke test (tests/integration/test_arm64_smoke.py) runs the
# Raspberry Pi 64-bit build under qemu: build it first.
integration: $(BUILD)/eddy cross-deps
	@$(MAKE) --no-print-directory BOARD=rpi-arm64 build/rpi-arm64/eddy
	@bash tests/integration/run.sh

test: deps layering lint format-check unit fuzz-smoke crash cross-test integration
	@echo "make test: all suites passed"

# ---- hygiene ----
layering:
	@sh tools/check-layering.sh
	@sh tools/test-layering.sh

FORMAT_SRC := $(shell git ls-files '*.c' '*.h' 2>/dev/null)
format:
	clang-format -i $(FORMAT_SRC)
format-check:
	@clang-format --dry-run --Werror $(FORMAT_SRC)

lint:
	cppcheck --quiet --error-exitcode=1 --enable=warning,portability,performance \
	  --inline-suppr --suppress=missingIncludeSystem --suppress=ctunullpointer:core/kafka/kwire.c -I. $(LIB_SRC) $(TOOL_SRC)
	clang-tidy --quiet $(LIB_SRC) $(TOOL_SRC) -- $(CFLAGS_BASE)

# Regenerates the Kafka message schema (core/kafka/msg_gen.{h,c}) from the
# message definitions of an Apache Kafka source checkout; not part of make test.
kafka-schema:
	@test -n "$(KAFKA_SRC)" || { echo "usage: make kafka-schema KAFKA_SRC=<kafka checkout>"; exit 2; }
	python3 tools/kafka-schema/gen.py $(KAFKA_SRC) core/kafka
	clang-format -i core/kafka/msg_gen.h core/kafka/msg_gen.c

size: $(BUILD)/eddy
	@STRIP=$(CROSS_COMPILE)strip SIZE=$(CROSS_COMPILE)size READELF=$(CROSS_COMPILE)readelf sh tools/size.sh $(BUILD) $(SIZE_BUDGET)

clean:
	rm -rf build

# ---- benchmarks (tests/bench/*_bench.c, optimised build) ----
$(BUILD)/bench/%: tests/bench/%.c $(BUILD)/libeddy.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -o $@ $< $(BUILD)/libeddy.a $(LIBS)

# ---- test helper programs (tests/integration/*.c) ----
$(BUILD)/tests/%: tests/integration/%.c $(BUILD)/libeddy.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -o $@ $< $(BUILD)/libeddy.a $(LIBS)

bench-crc: $(BUILD)/bench/crc32c_bench
	$(BUILD)/bench/crc32c_bench

# librdkafka load generator of the Kafka-protocol benchmark (no libeddy).
$(BUILD)/bench/rdkperf: tests/bench/rdkperf.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -o $@ $< -lrdkafka -lm

# Paho C (libpaho-mqtt-dev) load generator of the MQTT benchmark (no libeddy).
$(BUILD)/bench/mqttperf: tests/bench/mqttperf.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -o $@ $< -lpaho-mqtt3a -lpthread -lm

# Eddy against Apache Kafka on this machine (about 15 minutes; not a test).
bench: $(BUILD)/eddy $(BUILD)/bench/rdkperf
	@bash tests/bench/kafka_vs_eddy.sh

# Fuzzed real-client traffic against the sanitizer build while legitimate
# clients produce and consume (not part of make test): SOAK_SECONDS=600.
soak: $(SAN_BUILD)/eddy
	@tests/peers/install.sh
	@$${EDDY_PEERS:-$$HOME/.cache/eddy-peers}/venv/bin/python tests/soak/soak.py

# The mirror's kill -9 loop against a real Apache Kafka, 200 rounds (the
# default suite runs 20): EDDY_MIRROR_KILLS overrides. Then the network
# tests with the bandwidth cap held to +-10 % on the slow, lossy link.
soak-mirror: $(BUILD)/eddy
	EDDY_MIRROR_KILLS=$${EDDY_MIRROR_KILLS:-2000} bash tests/integration/run.sh \
	  tests/integration/test_mirror.py -k kill9_loop --timeout 14400
	EDDY_MIRROR_NET_STRICT=1 bash tests/integration/run.sh tests/integration/test_mirror_net.py \
	  --timeout 900

# The mirror's backlog catch-up against kcat into the same local Apache
# Kafka, wire bytes, CPU and RSS (a few minutes; not a test): BACKLOG_MIB=256.
bench-mirror: $(BUILD)/eddy
	@tests/peers/install.sh >&2
	@$${EDDY_PEERS:-$$HOME/.cache/eddy-peers}/venv/bin/python tests/bench/mirror.py

# What TLS + SASL/SCRAM cost against PLAINTEXT, Eddy and Apache Kafka side
# by side (about 5 minutes; not a test).
bench-tls: $(BUILD)/eddy $(BUILD)/bench/rdkperf
	@tests/peers/install.sh >&2
	@$${EDDY_PEERS:-$$HOME/.cache/eddy-peers}/venv/bin/python tests/bench/tls_sasl.py

# Bytes written per payload byte at everyday loads, Eddy beside Mosquitto and
# Apache Kafka (about 16 minutes; not a test). SD=1: on an SD-card-like
# throttled device (root), the loads of docs/benchmarks.md's SD-card table.
bench-flash: $(BUILD)/eddy $(BUILD)/bench/rdkperf
	@bash tests/bench/flash.sh $(if $(SD),--sd)
	@$${EDDY_PEERS:-$$HOME/.cache/eddy-peers}/venv/bin/python tests/bench/replay.py

# Eddy, Apache Kafka and Mosquitto on a Raspberry Pi-sized budget: 40 % of
# one core, 512 MiB, data on the SD-card-like device (root; about 5 minutes
# a run; not a test). PI_ARGS="--runs 3" for medians.
bench-pi: $(BUILD)/eddy $(BUILD)/bench/rdkperf
	@tests/peers/install.sh >&2
	@$${EDDY_PEERS:-$$HOME/.cache/eddy-peers}/venv/bin/python tests/bench/pi.py $(PI_ARGS)

# The SD-card-like device holds its write, IOPS and read limits, loop direct
# IO on and off (root; about 30 s; not in make test).
bench-sd-check:
	@python3 tests/bench/sdcard.py check

# Eddy's MQTT listener against Mosquitto on this machine (not a test).
bench-mqtt: $(BUILD)/eddy $(BUILD)/bench/mqttperf
	@bash tests/bench/mqtt_vs_mosquitto.sh

# Eddy's CoAP listener against its MQTT listener, the same readings, one run
# (about a minute; not a test).
bench-coap: $(BUILD)/eddy $(BUILD)/bench/coapperf $(BUILD)/bench/mqttperf
	@bash tests/bench/coap_vs_mqtt.sh
