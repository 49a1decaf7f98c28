# hearth build: one plain GNU Makefile (see README "Building").
#
#   make            optimized build: build/hearth, build/libhearth.a, build/tests
#   make test       build and run the unit + integration tests
#   make asan       the same with AddressSanitizer + UndefinedBehaviorSanitizer in build-asan/
#   make asan-test  run the tests under the sanitizers
#   make check      test + asan-test (what CI runs)
#   make fuzz       libFuzzer targets with clang in build-fuzz/
#
# Sources are found by wildcard, so adding a file needs no edit here. Kernel files named
# src/tensor/kernels/*_avx2.c, *_avxvnni.c, *_avx512.c get their own -m flags; everything
# else is compiled for the baseline ISA and reaches SIMD code only through runtime dispatch.

BUILD   ?= build
CC      ?= cc
OPT     ?= -O2
CFLAGS  ?= $(OPT) -g
CFLAGS  += -std=gnu11 -Wall -Wextra -Wshadow -Wno-unused-parameter -fno-strict-aliasing \
           -pthread -Iinclude -Isrc -Itests -MMD -MP
LDLIBS  += -lcurl -lmicrohttpd -lsqlite3 -lsndfile -lsoxr -lcjson -lm -lpthread

LIB_SRC   := $(sort $(wildcard src/*/*.c src/*/*/*.c))
LIB_SRC   := $(filter-out src/cli/%,$(LIB_SRC))
CLI_SRC   := $(sort $(wildcard src/cli/*.c))
TEST_SRC  := $(sort $(wildcard tests/*.c tests/unit/*.c))
TOOL_SRC  := $(sort $(wildcard tools/*.c))
BENCH_SRC := $(sort $(wildcard bench/*.c))

LIB_OBJ   := $(LIB_SRC:%.c=$(BUILD)/obj/%.o)
CLI_OBJ   := $(CLI_SRC:%.c=$(BUILD)/obj/%.o)
TEST_OBJ  := $(TEST_SRC:%.c=$(BUILD)/obj/%.o)
.SECONDARY: $(TOOL_SRC:%.c=$(BUILD)/obj/%.o) $(BENCH_SRC:%.c=$(BUILD)/obj/%.o)

TOOLS     := $(TOOL_SRC:tools/%.c=$(BUILD)/%)
BENCHES   := $(BENCH_SRC:bench/%.c=$(BUILD)/%)

all: $(BUILD)/hearth $(BUILD)/libhearth.a $(BUILD)/tests $(TOOLS) $(BENCHES)

# Written beside and renamed, so two makes in one tree never leave a half-written archive.
$(BUILD)/libhearth.a: $(LIB_OBJ)
	@mkdir -p $(dir $@)
	@rm -f $@.$$$$ && $(AR) rcs $@.$$$$ $^ && mv -f $@.$$$$ $@

$(BUILD)/hearth: $(CLI_OBJ) $(BUILD)/libhearth.a
	$(CC) $(CFLAGS) -o $@ $(CLI_OBJ) $(BUILD)/libhearth.a $(LDFLAGS) $(LDLIBS)

$(BUILD)/tests: $(TEST_OBJ) $(BUILD)/libhearth.a
	$(CC) $(CFLAGS) -o $@ $(TEST_OBJ) $(BUILD)/libhearth.a $(LDFLAGS) $(LDLIBS)

$(BUILD)/%: $(BUILD)/obj/tools/%.o $(BUILD)/libhearth.a
	$(CC) $(CFLAGS) -o $@ $< $(BUILD)/libhearth.a $(LDFLAGS) $(LDLIBS)

$(BUILD)/%: $(BUILD)/obj/bench/%.o $(BUILD)/libhearth.a
	$(CC) $(CFLAGS) -o $@ $< $(BUILD)/libhearth.a $(LDFLAGS) $(LDLIBS)

# The element-wise ops are written for the vectorizer; -O2 alone keeps only its cheapest
# vectorizations, and the SiLU's clamps become vector blends only when comparisons may be
# assumed not to trap (hearth never reads the floating-point exception flags). The cost
# model flag is GCC's (clang builds the fuzz targets).
$(BUILD)/obj/src/tensor/ops.o: CFLAGS += $(if $(findstring clang,$(CC)),,-fvect-cost-model=dynamic) \
                                         -fno-trapping-math

# Per-file ISA flags for the SIMD kernel variants.
$(BUILD)/obj/%_avx2.o: CFLAGS += -mavx2 -mfma -mf16c
$(BUILD)/obj/%_avxvnni.o: CFLAGS += -mavx2 -mfma -mf16c -mavxvnni
$(BUILD)/obj/%_avx512.o: CFLAGS += -mavx512f -mavx512bw -mavx512vl -mavx512dq -mavx512vnni -mavx512bf16 -mfma -mf16c
# The AVX2 panel decoder must round d * q - m as tq_dequantize does: no fused multiply-add.
$(BUILD)/obj/src/tensor/kernels/gemm_avx2.o: CFLAGS += -ffp-contract=off
# The SwiGLU must round as tq_swiglu does, step for step (kernels/act.h).
$(BUILD)/obj/src/tensor/kernels/act_avx512.o: CFLAGS += -ffp-contract=off

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<

# The model-level tests again on the AVX2 kernels: they exercise AVX2's own batched path
# (float GEMM, attention) end to end, which the per-kernel tests check only piece by piece.
AVX2_PASS := llama_ batch_ bert_ whisper_ transcribe_ embed_

test: all
	./$(BUILD)/tests
	HEARTH_ISA=avx2 ./$(BUILD)/tests $(AVX2_PASS)

asan:
	$(MAKE) BUILD=build-asan OPT="-O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined" \
	        LDFLAGS="-fsanitize=address,undefined"

asan-test: asan
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	    ./build-asan/tests --bin build-asan/hearth

check: test asan-test

FUZZ_TARGETS := $(patsubst fuzz/%.c,build-fuzz/%,$(wildcard fuzz/*.c))
fuzz:
	$(MAKE) BUILD=build-fuzz CC=clang OPT="-O1 -g -fsanitize=fuzzer-no-link,address,undefined" build-fuzz/libhearth.a
	@for f in $(wildcard fuzz/*.c); do \
	  echo clang $$f; \
	  clang -O1 -g -fsanitize=fuzzer,address,undefined -Iinclude -Isrc -o build-fuzz/$$(basename $$f .c) $$f \
	    build-fuzz/libhearth.a $(LDLIBS) || exit 1; done

clean:
	rm -rf build build-asan build-fuzz

.PHONY: all test asan asan-test check fuzz clean
-include $(LIB_OBJ:.o=.d) $(CLI_OBJ:.o=.d) $(TEST_OBJ:.o=.d) $(TOOL_SRC:%.c=$(BUILD)/obj/%.d) \
         $(BENCH_SRC:%.c=$(BUILD)/obj/%.d)
