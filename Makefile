# The two commands of the README: `make run` and `make test`. Each installs what is missing,
# configures and builds, so both work on a fresh Debian machine.
BUILD    ?= build
JOBS     ?= 2
CMAKEOPT ?= -G Ninja -DCMAKE_BUILD_TYPE=Release -DLLVM_DIR=/usr/lib/llvm-19/lib/cmake/llvm

.PHONY: run test test-sanitize build deps bench bench-print bench-gmm clean fuzz fuzz-deps install

# Sanitized tests (g++, no clang needed): ASan + UBSan, stopping at the first report.
ASAN_BUILD ?= build-asan
ASAN_OPT   ?= -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_FLAGS_RELEASE="-O1 -g1" -DGRADC_SANITIZE=ON \
              -DCMAKE_DISABLE_FIND_PACKAGE_benchmark=ON \
              -DLLVM_DIR=/usr/lib/llvm-19/lib/cmake/llvm
export ASAN_OPTIONS  ?= halt_on_error=1:detect_leaks=1
export UBSAN_OPTIONS ?= halt_on_error=1:print_stacktrace=1

# libFuzzer targets (clang-19): see README, "Fuzzing and sanitizers".
FUZZ_BUILD ?= build-fuzz
FUZZ_OPT   ?= -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DGRADC_FUZZ=ON \
              -DCMAKE_CXX_COMPILER=clang++-19 -DLLVM_DIR=/usr/lib/llvm-19/lib/cmake/llvm
FUZZ_TARGETS = program jit csv checkpoint

run: build
	./$(BUILD)/gradc eval examples/lecture.grad --hessian
	./$(BUILD)/gradc diff examples/lecture.grad --fn f --wrt x,y,z
	./$(BUILD)/gradc explain examples/lecture.grad --fn g --wrt x

test: build
	cd $(BUILD) && ctest --output-on-failure -j$(JOBS)

# `make install PREFIX=~/.local`: gradc, its man page, completions and editor syntax files.
PREFIX ?= /usr/local
install: build
	cmake --install $(BUILD) --prefix $(PREFIX)

build: deps
	@test -f $(BUILD)/build.ninja || cmake -S . -B $(BUILD) $(CMAKEOPT)
	cmake --build $(BUILD) -j$(JOBS)

deps:
	@scripts/setup.sh

test-sanitize: deps
	@test -f $(ASAN_BUILD)/build.ninja || cmake -S . -B $(ASAN_BUILD) $(ASAN_OPT)
	cmake --build $(ASAN_BUILD) -j$(JOBS)
	cd $(ASAN_BUILD) && ctest --output-on-failure -j$(JOBS) --timeout 1500

fuzz-deps:
	@scripts/setup.sh --fuzz

# Builds the four fuzz targets and their seed corpora ($(FUZZ_BUILD)/corpus/TARGET); run one
# with scripts/fuzz.sh TARGET SECONDS.
fuzz: fuzz-deps
	@test -f $(FUZZ_BUILD)/build.ninja || cmake -S . -B $(FUZZ_BUILD) $(FUZZ_OPT)
	cmake --build $(FUZZ_BUILD) -j$(JOBS) --target $(addprefix fuzz_,$(FUZZ_TARGETS))
	python3 scripts/fuzz_seeds.py $(FUZZ_BUILD)/corpus

bench: build
	./$(BUILD)/bench/gradc_bench

# Printed derivatives against SymPy (bench/printing.md): SymPy is installed (Debian's python3-sympy)
# only here, when a python3 without it runs this target. Writes bench/results/print_vs_sympy.*.
PYTHON ?= $(shell python3 -c 'import sympy' 2>/dev/null && echo python3 || echo /usr/bin/python3)
bench-print: build
	@$(PYTHON) -c 'import sympy' 2>/dev/null || scripts/setup.sh --bench-print
	$(PYTHON) bench/print_vs_sympy.py --gradc $(BUILD)/gradc $(BENCHOPT)

# The GMM objective of examples/gmm.grad at ADBench's sizes, then Jacobians against PyTorch
# (bench/gmm.md and bench/jacobians.md). PyTorch (Debian's
# python3-torch, with NumPy) is installed only here, when the python3 on PATH has none.
TORCH_PYTHON ?= $(shell python3 -c 'import torch, numpy' 2>/dev/null && echo python3 || echo /usr/bin/python3)
bench-gmm: build
	./$(BUILD)/bench/gradc_gmm_bench $(BENCHOPT)
	@$(TORCH_PYTHON) -c 'import torch, numpy' 2>/dev/null || scripts/setup.sh --bench-torch
	$(TORCH_PYTHON) bench/jacobian_vs_torch.py --gradc-bench $(BUILD)/bench/gradc_jacobian_bench

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD)
