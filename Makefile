# Convenience entry points (make is not needed: the README's two commands are
# the scripts themselves); the build itself is CMake.
#   make demo   - sh scripts/demo.sh: install build dependencies, build, run the main job on local files
#   make check  - sh scripts/check.sh: install everything, build, run every test (then under ASan+UBSan)
#   make bench  - benchmarks (see bench/README.md)
BUILD ?= build
ASAN_BUILD ?= build-asan
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?=

.PHONY: all deps build demo check check-release check-asan bench install clean

all: build

deps:
	@sh scripts/install-deps.sh all

build:
	@sh scripts/install-deps.sh demo
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DZT_WERROR=ON $(CMAKE_FLAGS)
	cmake --build $(BUILD) -j$(JOBS)

demo:
	sh scripts/demo.sh $(BUILD)

check:
	BUILD=$(BUILD) ASAN_BUILD=$(ASAN_BUILD) sh scripts/check.sh

check-release: build
	cd $(BUILD) && ctest --output-on-failure -j$(JOBS)

check-asan: deps
	cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DZT_SANITIZE=ON -DZT_WERROR=ON $(CMAKE_FLAGS)
	cmake --build $(ASAN_BUILD) -j$(JOBS)
	cd $(ASAN_BUILD) && ctest --output-on-failure -j$(JOBS) -LE "slow|pyext"

bench: build
	sh bench/run.sh $(BUILD)

install: build
	cmake --install $(BUILD)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)
