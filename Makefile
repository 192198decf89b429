# Sluice: `make demo` runs the main job on embedded defaults; `make test` runs the whole suite.
SWIFT ?= swift
SETUP_STAMP := .tools/.setup-done

.PHONY: all setup build release demo test bench bench-match fuzz clean

all: build

$(SETUP_STAMP): scripts/setup
	scripts/setup
	@touch $(SETUP_STAMP)

setup: $(SETUP_STAMP)

build: setup
	$(SWIFT) build

release: setup
	$(SWIFT) build -c release --product sluice

demo: release
	scripts/demo

# The whole suite: unit tests, and integration tests against a real Tansu broker and real HTTP servers.
test: setup
	$(SWIFT) build --build-tests
	SWIFT=$(SWIFT) scripts/run-suite
	.build/debug/sluice test --suite routes/tests --routes routes --connectors connectors

bench: setup
	$(SWIFT) build -c release --product sluice
	$(SWIFT) build -c release --product sluice-bench
	.build/release/sluice-bench

bench-match: setup
	$(SWIFT) build -c release --product sluice-bench-match
	.build/release/sluice-bench-match

# libFuzzer harnesses (Fuzz/), FUZZ_SECONDS each (default 60); not part of build or test.
fuzz: setup
	scripts/fuzz

clean:
	rm -rf .build
