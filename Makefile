# ctune build. `make` builds libctune.a and the ctune CLI; `make test` runs the whole suite;
# `make test-asan` runs it under AddressSanitizer + UBSan; `make bench` runs benchmarks;
# `make bench-compare BASE=rev` benchmarks rev against this tree (bench/compare.sh, docs/perf.md).
CC      ?= gcc
BUILD   ?= build
OPT     ?= -O2 -march=native
PKGS    := libpcre2-8 libutf8proc jansson yaml-0.1 openblas
DEPS_OK := $(shell pkg-config --exists $(PKGS) 2>/dev/null && echo yes)
ifneq ($(DEPS_OK),yes)
  $(info ctune: installing missing build dependencies (scripts/deps.sh))
  DEPS_RC := $(shell bash scripts/deps.sh >&2; echo $$?)
endif
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
# libmicrohttpd (`ctune serve`) is optional: without it everything else builds and `ctune serve`
# says how to get it (scripts/deps.sh installs libmicrohttpd-dev).
ifeq ($(shell pkg-config --exists libmicrohttpd 2>/dev/null && echo yes),yes)
  PKG_CFLAGS += -DCT_HAVE_MHD $(shell pkg-config --cflags libmicrohttpd)
  PKG_LIBS   += $(shell pkg-config --libs libmicrohttpd)
endif
# MPI (data-parallel training, docs/distributed.md): on where libopenmpi-dev is installed;
# `make MPI=0` builds the single-process ctune (the dist.c fallbacks).
MPI     ?= $(shell pkg-config --exists ompi-c 2>/dev/null && echo 1 || echo 0)
ifeq ($(MPI),1)
  PKG_CFLAGS += -DCT_HAVE_MPI $(shell pkg-config --cflags ompi-c)
  PKG_LIBS   += $(shell pkg-config --libs ompi-c)
endif
CFLAGS  ?= $(OPT) -g
CFLAGS  += -std=c17 -D_GNU_SOURCE -Wall -Wextra -Werror -fopenmp -Iinclude -Isrc $(PKG_CFLAGS) $(EXTRA_CFLAGS)
LDLIBS  += $(PKG_LIBS) -fopenmp -lm $(EXTRA_LDFLAGS)

LIB_SRC  := $(sort $(shell find src -name '*.c' -not -path 'src/cli/*'))
CLI_SRC  := $(sort $(wildcard src/cli/*.c))
TEST_SRC := $(sort $(wildcard tests/*.c))
LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/%.o)
CLI_OBJ  := $(CLI_SRC:%.c=$(BUILD)/%.o)
TEST_OBJ := $(TEST_SRC:%.c=$(BUILD)/%.o)

.PHONY: all test test-asan test-faults test-serve-stress bench bench-compare demo clean
all: $(BUILD)/libctune.a $(BUILD)/ctune

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

# the web page is embedded with .incbin (src/serve/webui.c)
$(BUILD)/src/serve/webui.o: src/serve/webui.html
build-fuzz/src/serve/webui.o: src/serve/webui.html

$(BUILD)/libctune.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/ctune: $(CLI_OBJ) $(BUILD)/libctune.a
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/ctune_tests: $(TEST_OBJ) $(BUILD)/libctune.a
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

test: $(BUILD)/ctune $(BUILD)/ctune_tests
	@CTUNE_BIN=$(BUILD)/ctune bash tests/run.sh $(BUILD)

# The server's reliability run: 1,008 requests from 16 concurrent clients over loopback, every
# answer checked against ct_generate (tests/test_serve_http.c; a 48-request run is in `make test`).
test-serve-stress: $(BUILD)/ctune_tests
	@CT_SERVE_STRESS=1 $(BUILD)/ctune_tests serve_http_concurrent

# The kernel table check alone: every linear kernel variant (and both attention algorithms)
# against the exact f32 reference (tests/test_ops_kernels.c; also part of `make test`).
test-ops: $(BUILD)/ctune_tests
	@$(BUILD)/ctune_tests ops_kernels

# The longer fault campaigns (docs/robustness.md): KILLS random kill -9 moments of a LoRA training
# run, then BADAM_KILLS (12) of a BAdam one, every resume bitwise equal to the uninterrupted run
# (~2-3 minutes). The fast fault tests
# (tests/cli/train_faults.sh, test_trainer_state.c) are part of `make test`.
test-faults: $(BUILD)/ctune
	@CTUNE_BIN=$(BUILD)/ctune bash tests/faults/kill_campaign.sh; rc=$$?; \
	if [ $$rc -eq 77 ]; then echo "test-faults: SKIP (the campaign needs ../shared/models/stories260k)"; \
	elif [ $$rc -ne 0 ]; then exit $$rc; \
	else CTUNE_BIN=$(BUILD)/ctune FAULT_METHOD=badam KILLS=$${BADAM_KILLS:-12} bash tests/faults/kill_campaign.sh; fi

test-asan:
	$(MAKE) BUILD=build-asan OPT="-O1 -fno-omit-frame-pointer" \
	  EXTRA_CFLAGS="-fsanitize=address,undefined -fno-sanitize-recover=undefined" \
	  EXTRA_LDFLAGS="-fsanitize=address,undefined" CTUNE_SANITIZE=1 test

bench: all
	bash bench/run.sh $(BUILD)

bench-compare: all
	@[ -n "$(BASE)" ] || { echo "usage: make bench-compare BASE=<git rev> (env REPEAT, AGG, BENCH_QUICK)"; exit 2; }
	bash bench/compare.sh '$(BASE)' $(BUILD)

demo: all
	bash scripts/demo.sh

clean:
	rm -rf build build-asan

-include $(LIB_OBJ:.o=.d) $(CLI_OBJ:.o=.d) $(TEST_OBJ:.o=.d)

# Examples built against libctune (examples/*.c -> build/<name>).
EXAMPLES := $(patsubst examples/%.c,$(BUILD)/%,$(wildcard examples/*.c))
.PHONY: examples
examples: $(EXAMPLES)
$(BUILD)/%: examples/%.c $(BUILD)/libctune.a
	$(CC) $(CFLAGS) -o $@ $< $(BUILD)/libctune.a $(LDLIBS)

# ---- Fuzzing (`make fuzz`, docs/robustness.md): one libFuzzer harness per parser (fuzz/fuzz_*.c),
# built with clang + ASan + UBSan into build-fuzz/ and run one after the other for FUZZ_SECONDS
# each (FUZZ=name runs one). Needs clang's libFuzzer runtime: `scripts/deps.sh --fuzz`.
FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 30
FUZZ_SAN     := -fsanitize=address,undefined -fno-sanitize-recover=undefined
FUZZ_CFLAGS  := -std=c17 -D_GNU_SOURCE -g -O1 -fno-omit-frame-pointer -fopenmp -Iinclude -Isrc \
                $(PKG_CFLAGS) $(FUZZ_SAN)
FUZZ_SRC     := $(sort $(wildcard fuzz/fuzz_*.c))
FUZZ_BIN     := $(FUZZ_SRC:fuzz/%.c=build-fuzz/%)
FUZZ_LIB_OBJ := $(LIB_SRC:%.c=build-fuzz/%.o)
.PHONY: fuzz fuzz-build fuzz-check fuzz-clean
fuzz-check:
	@command -v $(FUZZ_CC) >/dev/null || { echo "make fuzz: $(FUZZ_CC) not found; run scripts/deps.sh --fuzz"; exit 1; }
fuzz-build: fuzz-check $(FUZZ_BIN)
fuzz-clean:
	rm -rf build-fuzz
fuzz: fuzz-build
	@bash fuzz/run.sh build-fuzz $(FUZZ_SECONDS) $(FUZZ)
build-fuzz/src/%.o: src/%.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -MMD -MP -c $< -o $@
build-fuzz/libctune.a: $(FUZZ_LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^
build-fuzz/fuzz_%: fuzz/fuzz_%.c fuzz/fuzz_util.h build-fuzz/libctune.a
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $< build-fuzz/libctune.a $(PKG_LIBS) -lm
-include $(FUZZ_LIB_OBJ:.o=.d)
