# Thin wrapper over CMake. `make run` and `make test` each install what is missing,
# build, then run; on a fresh Debian 12 machine each is one command.
BUILD      ?= build
SHARED     ?= $(abspath ../shared)
JOBS       ?= $(shell nproc)
CMAKE_FLAGS ?=
DEPS = cmake gcc g++ make pkg-config libsleef-dev libxxhash-dev libbenchmark-dev libpcre2-dev libjansson-dev

.PHONY: all deps build run test test-isa asan clean

all: build

deps:
	@missing=$$(for p in $(DEPS); do dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "make deps: installing" $$missing; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; \
	fi

build: deps
	cmake -S . -B $(BUILD) -DQLOOP_SHARED_DIR=$(SHARED) $(CMAKE_FLAGS)
	cmake --build $(BUILD) -j $(JOBS)

run: build
	./$(BUILD)/qloop run -m $(SHARED)/models/stories260K.gguf -p "Once upon a time" -n 120

test: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

# The model and fixture tests again with the kernel table forced to each level this CPU
# runs (QLOOP_ISA), so every ISA's kernels are checked against the references end to end.
# The kernel tests already run per level inside `make test`.
test-isa: build
	@for isa in scalar avx2 avx512 amx neon; do \
	  if QLOOP_ISA=$$isa ./$(BUILD)/qloop info --cpu 2>/dev/null | grep -q "^in use: *$$isa$$"; then \
	    echo "== QLOOP_ISA=$$isa"; \
	    (cd $(BUILD) && QLOOP_ISA=$$isa ctest --output-on-failure -j $(JOBS) -E 'kernels') || exit 1; \
	  else echo "== QLOOP_ISA=$$isa: not available on this CPU or build, skipped"; fi; \
	done

# The same tests under AddressSanitizer and UndefinedBehaviorSanitizer.
asan: deps
	$(MAKE) test BUILD=build-asan CMAKE_FLAGS="-DCMAKE_BUILD_TYPE=Debug -DQL_SANITIZE=ON $(CMAKE_FLAGS)"

clean:
	rm -rf build build-asan
