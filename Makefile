# The two set-up commands of the README. Both install missing Debian packages
# first, so they work on a fresh machine.
#   make serve   build, then serve the demo model
#   make test    build (release with gcc, sanitizers with clang), then every test
JOBS    ?= $(shell nproc)
SHARED  ?= $(abspath ../shared)
MODEL   ?=
BUILD   := build
ASAN    := build-asan

.PHONY: all deps build build-asan test serve clean bench

all: build

deps:
	@bash scripts/deps.sh

build: deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release -DLLMUX_SHARED=$(SHARED) \
	  -DLLMUX_ASAN_DIR=$(abspath $(ASAN)) >/dev/null
	cmake --build $(BUILD) -j $(JOBS)

build-asan: deps
	CC=clang cmake -S . -B $(ASAN) -DCMAKE_BUILD_TYPE=Debug -DLLMUX_SANITIZE=ON -DLLMUX_FUZZ=ON \
	  -DLLMUX_SHARED=$(SHARED) >/dev/null
	cmake --build $(ASAN) -j $(JOBS)

test: build-asan build
	@bash scripts/test-setup.sh
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

serve: build
	@bash scripts/serve.sh $(MODEL)

bench: build
	@bash bench/run.sh

clean:
	rm -rf $(BUILD) $(ASAN)
