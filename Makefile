# curfew: `make run` starts the server on its defaults, `make test` runs every test.
# The build itself is Meson; this file only wires the two commands together.

BUILD      ?= build
ASAN_BUILD ?= build-asan
TSAN_BUILD ?= build-tsan
FUZZ_BUILD ?= build-fuzz
FUZZ_SECONDS ?= 600
FUZZ_HARNESSES = http jws dpop config body wire apikey_pack
PYTHON     ?= /usr/bin/python3
CURFEW      = $(BUILD)/curfew

.PHONY: all deps build run test unit unit-asan unit-tsan fuzz-build fuzz-smoke fuzz integration integration-asan integration-tsan browser-deps bench clean

all: build

deps:
	@scripts/deps.sh

$(BUILD)/build.ninja:
	meson setup $(BUILD) --buildtype=release -Db_ndebug=false

build: deps $(BUILD)/build.ninja
	ninja -C $(BUILD)

run: build
	@echo "curfew: serving on http://127.0.0.1:7070 (data in ./data)."
	@echo "curfew: create a first session in another terminal with:"
	@echo "  curl -s -X POST http://127.0.0.1:7070/v1/sessions \\"
	@echo "       -H \"Authorization: Bearer \$$CURFEW_ADMIN_KEY\" -H 'Content-Type: application/json' \\"
	@echo "       -d '{\"sub\": \"alice\", \"roles\": [\"user\"]}'"
	@echo "  (the admin key is printed below on the first start; or export CURFEW_ADMIN_KEY before 'make run')"
	exec $(CURFEW) serve

unit: build
	meson test -C $(BUILD) --suite unit --print-errorlogs

$(ASAN_BUILD)/build.ninja:
	meson setup $(ASAN_BUILD) -Db_sanitize=address,undefined -Db_lundef=false --buildtype=debug

unit-asan: deps $(ASAN_BUILD)/build.ninja
	ninja -C $(ASAN_BUILD)
	ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	  meson test -C $(ASAN_BUILD) --suite unit --print-errorlogs

# The libFuzzer harnesses (tests/fuzz) in their own clang build, like the
# ASan one plus the fuzzer's coverage instrumentation. fuzz-smoke replays every
# committed seed and fuzzes a few seconds per harness (part of `make test`);
# `make fuzz` runs each for FUZZ_SECONDS on a corpus outside the repository and
# records the run in tests/fuzz/RUNS.tsv (scripts/fuzz-run.sh).
$(FUZZ_BUILD)/build.ninja:
	CC=clang meson setup $(FUZZ_BUILD) -Dfuzz=true -Dtests=disabled \
	  -Db_sanitize=address,undefined -Db_lundef=false --buildtype=debugoptimized

fuzz-build: deps $(FUZZ_BUILD)/build.ninja
	ninja -C $(FUZZ_BUILD)

fuzz-smoke: fuzz-build
	meson test -C $(FUZZ_BUILD) --suite fuzz --print-errorlogs

fuzz: fuzz-build
	@for h in $(FUZZ_HARNESSES); do \
	  FUZZ_BUILD=$(FUZZ_BUILD) scripts/fuzz-run.sh $$h $(FUZZ_SECONDS) || exit 1; \
	done

# The dashboard's browser test drives /usr/bin/chromium with playwright-core,
# pinned by tests/browser/package-lock.json; installed once, when missing.
BROWSER_DEPS = tests/browser/node_modules/playwright-core/package.json

$(BROWSER_DEPS): tests/browser/package.json tests/browser/package-lock.json
	npm ci --prefix tests/browser --no-audit --no-fund
	@touch $@

browser-deps: deps $(BROWSER_DEPS)

integration: build browser-deps
	CURFEW_BIN=$(abspath $(CURFEW)) $(PYTHON) -m pytest -q -p no:cacheprovider tests/integration

# The suites that drive the newest C (the cluster and its revocations and
# recovery, key rotation, the OAuth flows, commit faults, route attacks, error
# answers, forwarded addresses, config agreement, every documented answer) once more against the
# sanitizer build; a report fails the test. (The clock tests preload
# libfaketime, which ASan refuses to run under.)
ASAN_SUITES = tests/integration/test_cluster.py tests/integration/test_keys.py \
	tests/integration/test_oauth.py tests/integration/test_sessions.py \
	tests/integration/test_faults.py tests/integration/test_cluster_revoke.py \
	tests/integration/test_cluster_recovery.py tests/integration/test_route_attacks.py \
	tests/integration/test_errors.py tests/integration/test_alert_holds.py \
	tests/integration/test_config_agree.py tests/integration/test_forwarded.py \
	tests/integration/test_openapi_live.py

integration-asan: unit-asan
	ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
	  CURFEW_BIN=$(abspath $(ASAN_BUILD)/curfew) $(PYTHON) -m pytest -q -p no:cacheprovider $(ASAN_SUITES)

# ThreadSanitizer: curfew runs threads beside the loop (the SQLite writer, the
# signer, the DPoP verifier pool, the audit writer, the webhook worker,
# libuv's pool for client secrets, the start-up integrity check). The unit
# tests (some start the store's writer or threads of their own) and the suites
# that keep those threads busy while the loop serves, reloads and is scraped
# (test_threads.py, then the suites of each thread) run once more against a
# TSan build; a report exits curfew (halt_on_error) and fails the test
# (conftest.py looks for "ThreadSanitizer" in its stderr, as for ASan). About
# 2 minutes on 2 cores. No suppressions are needed: OpenSSL, libuv and SQLite
# are not instrumented and their locks are intercepted. test_sign_pool's
# PBKDF2 timing test is left out (a minute of hashing, nothing shared).
# gcc 12's TSan cannot map its shadow on kernels with vm.mmap_rnd_bits above
# 28 ("FATAL: ThreadSanitizer: unexpected memory mapping"), so the lane runs
# with address randomization off for its processes (setarch -R, util-linux):
# a fresh machine's sysctl must not decide whether make test passes.
TSAN_OPTS = TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1
NO_ASLR   = setarch $(shell uname -m) -R
TSAN_SUITES = tests/integration/test_threads.py tests/integration/test_audit.py \
	tests/integration/test_dpop_pool.py tests/integration/test_sign_pool.py \
	tests/integration/test_store.py tests/integration/test_alerts.py \
	tests/integration/test_reload.py tests/integration/test_mtls_auth.py

$(TSAN_BUILD)/build.ninja:
	meson setup $(TSAN_BUILD) -Db_sanitize=thread -Db_lundef=false --buildtype=debugoptimized

unit-tsan: deps $(TSAN_BUILD)/build.ninja
	ninja -C $(TSAN_BUILD)
	$(TSAN_OPTS) $(NO_ASLR) meson test -C $(TSAN_BUILD) --suite unit --print-errorlogs

integration-tsan: unit-tsan
	$(TSAN_OPTS) CURFEW_BIN=$(abspath $(TSAN_BUILD)/curfew) $(NO_ASLR) $(PYTHON) -m pytest -q -p no:cacheprovider \
	  $(TSAN_SUITES) -k 'not client_secret_hashing'

test: unit unit-asan fuzz-smoke integration integration-asan integration-tsan

bench: build
	bench/check.sh

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(TSAN_BUILD) $(FUZZ_BUILD)
