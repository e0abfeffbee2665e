# The two commands of the README: `make run` and `make test`. Each installs what is missing,
# configures and builds, so both work on a fresh Debian machine.
BUILD    ?= build
JOBS     ?= 2
CMAKEOPT ?= -G Ninja -DCMAKE_BUILD_TYPE=Release -DLLVM_DIR=/usr/lib/llvm-19/lib/cmake/llvm

.PHONY: run test build deps bench clean

run: build
	./$(BUILD)/gradc eval examples/lecture.grad --hessian
	./$(BUILD)/gradc diff examples/lecture.grad --fn f --wrt x,y,z
	./$(BUILD)/gradc explain examples/lecture.grad --fn g --wrt x

test: build
	cd $(BUILD) && ctest --output-on-failure -j$(JOBS)

build: deps
	@test -f $(BUILD)/build.ninja || cmake -S . -B $(BUILD) $(CMAKEOPT)
	cmake --build $(BUILD) -j$(JOBS)

deps:
	@scripts/setup.sh

bench: build
	./$(BUILD)/bench/gradc_bench

clean:
	rm -rf $(BUILD)
