# ledgerlet — build, test, bench and demo.
#
#   make            build ledgerlet and journal-replay into build/
#   make run        install what is missing, build, run the demo
#   make test       install what is missing, build, run every suite (ends "N passed, N failed")
#   make bench      install what is missing, build, print "bench <name> <value> <unit>" lines
#
# Unit tests are built twice: plain (build/) and under ASan+UBSan (build/asan/).

CC      ?= gcc
PKGS    := lmdb libprotobuf-c libcurl json-c liburing libcgroup yaml-0.1
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)

B       := build
GEN     := $(B)/gen
WARN    := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes
CFLAGS_BASE := -std=c17 -D_GNU_SOURCE -g -Isrc -Itests/unit -I$(GEN) $(PKG_CFLAGS)
CFLAGS  ?= -O2
ALL_CFLAGS = $(CFLAGS_BASE) $(CFLAGS) $(WARN)
SAN     := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
LDLIBS  := $(PKG_LIBS) -lm

PROTO_C := $(GEN)/schemas/journal.pb-c.c
PROTO_H := $(GEN)/schemas/journal.pb-c.h
CRI_PROTO_C := $(GEN)/schemas/cri.pb-c.c
CRI_PROTO_H := $(GEN)/schemas/cri.pb-c.h

FSM_SRC  := $(sort $(wildcard src/fsm/*.c))
JNL_SRC  := $(sort $(wildcard src/journal/*.c))
IO_SRC   := $(sort $(wildcard src/io/*.c))
EFF_SRC  := $(sort $(wildcard src/effects/*.c))
LIB_SRC  := $(FSM_SRC) $(JNL_SRC) $(IO_SRC) $(EFF_SRC) $(filter-out src/main.c,$(wildcard src/*.c))
UNIT_SRC := $(sort $(wildcard tests/unit/*/*_test.c))
BENCH_SRC := $(sort $(wildcard bench/*.c))

# Objects for a variant directory $(1) (build or build/asan).
objs = $(patsubst %.c,$(1)/obj/%.o,$(2))

LIB_OBJ      := $(call objs,$(B),$(LIB_SRC)) $(B)/obj/gen/journal.pb-c.o $(B)/obj/gen/cri.pb-c.o
LIB_OBJ_SAN  := $(call objs,$(B)/asan,$(LIB_SRC)) $(B)/asan/obj/gen/journal.pb-c.o \
		$(B)/asan/obj/gen/cri.pb-c.o
TEST_OBJ     := $(B)/obj/tests/unit/test.o
TEST_OBJ_SAN := $(B)/asan/obj/tests/unit/test.o
UNIT_BIN     := $(patsubst tests/unit/%.c,$(B)/tests/%,$(UNIT_SRC))
UNIT_BIN_SAN := $(patsubst tests/unit/%.c,$(B)/asan/tests/%,$(UNIT_SRC))
BENCH_BIN    := $(patsubst bench/%.c,$(B)/bench/%,$(BENCH_SRC))

.PHONY: all deps run test bench clean format purity stop
.SECONDARY:

all: $(B)/ledgerlet $(B)/journal-replay $(B)/llt-cri

deps:
	@scripts/deps.sh build

$(PROTO_C) $(PROTO_H): schemas/journal.proto
	@mkdir -p $(GEN)
	protoc-c --c_out=$(GEN) schemas/journal.proto

$(B)/obj/gen/journal.pb-c.o: $(PROTO_C)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_BASE) $(CFLAGS) -w -c -o $@ $<
$(B)/asan/obj/gen/journal.pb-c.o: $(PROTO_C)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_BASE) -O1 $(SAN) -w -c -o $@ $<

$(CRI_PROTO_C) $(CRI_PROTO_H): schemas/cri.proto
	@mkdir -p $(GEN)
	protoc-c --c_out=$(GEN) schemas/cri.proto

$(B)/obj/gen/cri.pb-c.o: $(CRI_PROTO_C)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_BASE) $(CFLAGS) -w -c -o $@ $<
$(B)/asan/obj/gen/cri.pb-c.o: $(CRI_PROTO_C)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_BASE) -O1 $(SAN) -w -c -o $@ $<

$(B)/obj/%.o: %.c $(PROTO_H) $(CRI_PROTO_H)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -MMD -MP -c -o $@ $<
$(B)/asan/obj/%.o: %.c $(PROTO_H) $(CRI_PROTO_H)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_BASE) -O1 $(WARN) $(SAN) -MMD -MP -c -o $@ $<

$(B)/libledgerlet.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^
$(B)/asan/libledgerlet.a: $(LIB_OBJ_SAN)
	@mkdir -p $(dir $@)
	@rm -f $@
	ar rcs $@ $^

$(B)/ledgerlet: $(B)/obj/src/main.o $(B)/libledgerlet.a
	$(CC) -o $@ $^ $(LDLIBS)
$(B)/journal-replay: $(B)/obj/tools/journal-replay.o $(B)/libledgerlet.a
	$(CC) -o $@ $^ $(LDLIBS)
$(B)/llt-cri: $(B)/obj/tools/llt-cri.o $(B)/libledgerlet.a
	$(CC) -o $@ $^ $(LDLIBS)

$(B)/tests/%: $(B)/obj/tests/unit/%.o $(TEST_OBJ) $(B)/libledgerlet.a
	@mkdir -p $(dir $@)
	$(CC) -o $@ $^ $(LDLIBS)
$(B)/asan/tests/%: $(B)/asan/obj/tests/unit/%.o $(TEST_OBJ_SAN) $(B)/asan/libledgerlet.a
	@mkdir -p $(dir $@)
	$(CC) $(SAN) -o $@ $^ $(LDLIBS)

$(B)/bench/%: $(B)/obj/bench/%.o $(B)/libledgerlet.a
	@mkdir -p $(dir $@)
	$(CC) -o $@ $^ $(LDLIBS)

# The fold links on its own: any undefined symbol outside the allowlist fails.
purity: $(call objs,$(B),$(FSM_SRC))
	@scripts/purity-check.sh $^

test:
	@scripts/deps.sh test
	@$(MAKE) --no-print-directory -s all-tests
	@scripts/run-tests.sh

.PHONY: all-tests
all-tests: all $(UNIT_BIN) $(UNIT_BIN_SAN) $(call objs,$(B),$(FSM_SRC))

bench:
	@scripts/deps.sh bench
	@$(MAKE) --no-print-directory -s all $(BENCH_BIN)
	@for b in $(BENCH_BIN); do $$b || exit 1; done
	@for b in bench/*.sh; do bash $$b || exit 1; done

run:
	@scripts/deps.sh run
	@$(MAKE) --no-print-directory -s all
	@scripts/demo.sh

stop:
	@scripts/demo.sh stop

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf $(B)

-include $(shell find $(B) -name '*.d' 2>/dev/null)
