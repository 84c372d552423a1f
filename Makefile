# The two commands of the README do all set-up on a fresh Debian 12 machine:
#   make demo   install missing packages, configure, build, run the demo and print its report
#   make test   the same set-up, then the whole test suite
# Other targets: build, bench, explore (every scenario over many seeds; SEEDS=1000), asan (the
# suite under AddressSanitizer + UBSan), clean.

JOBS ?= $(shell nproc 2>/dev/null || echo 2)

.PHONY: all deps build test demo bench explore asan clean

all: build

deps:
	./scripts/install-deps.sh

build: deps
	cmake --preset dev
	cmake --build --preset dev -j $(JOBS)

test: build
	ctest --preset dev -j $(JOBS)

demo: deps
	cmake --preset release
	cmake --build --preset release -j $(JOBS) --target cfemu
	./build/release/cfemu run scenarios/demo.json

bench: deps
	cmake --preset release
	cmake --build --preset release -j $(JOBS) --target cfemu_bench
	./build/release/bench/cfemu_bench

SEEDS ?= 1000
explore: deps
	cmake --preset release
	cmake --build --preset release -j $(JOBS) --target cfemu
	./scripts/explore-all.sh ./build/release/cfemu $(SEEDS) $(JOBS)

asan: deps
	cmake --preset asan
	cmake --build --preset asan -j $(JOBS)
	ctest --preset asan -j $(JOBS)

clean:
	rm -rf build
