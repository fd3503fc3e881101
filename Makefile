# The project's checks. `make test` is the README's test command and what
# CI runs (.ci/run): it installs what the tests need (the npm package of the
# local Solana VM is installed by the tests themselves on first use).
GO ?= go
FUZZTIME ?= 100000x
FUZZTIME_SLOW ?= 300x

.PHONY: test deps vet unit fuzz soak build

test: deps vet unit fuzz

# Test dependencies a fresh machine lacks: Debian's Chromium for the web
# page's browser test (the litesvm npm package of the local Solana VM is
# installed by the tests on first use). Without root or apt the browser
# test is skipped with a message instead. PostgreSQL's server binaries
# (Debian's postgresql package) for eventstore/postgres, whose tests start
# their own throwaway servers and fail, not skip, without them.
deps:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null 2>&1 || [ -n "$$EPOCHLEDGER_PG_BIN" ] || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; \
	  else echo "PostgreSQL server binaries missing (initdb): install Debian's postgresql package, or set EPOCHLEDGER_PG_BIN; the eventstore/postgres tests need them" >&2; exit 1; fi; }
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
	      || echo "note: could not install chromium; the browser test will be skipped"; \
	  else echo "note: chromium not installed (needs root and apt-get); the browser test will be skipped"; fi; }

build:
	$(GO) build -o epochledger ./cmd/epochledger

# vet also cross-builds for Windows, where auditors may replay and verify
# a log: it must keep building there (it is not tested there).
vet:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { echo "gofmt needed:"; gofmt -l $$(git ls-files '*.go'); exit 1; }
	$(GO) vet ./...
	CGO_ENABLED=0 $(GO) build ./...
	GOOS=windows CGO_ENABLED=0 $(GO) build ./...

unit:
	@if command -v chromium >/dev/null 2>&1; then export EPOCHLEDGER_REQUIRE_BROWSER=1; fi; \
	$(GO) test -race -timeout 30m ./...

# Every decoder's fuzz target, briefly (a fixed number of inputs, so a loaded
# machine cannot turn a deadline into a failure); longer with FUZZTIME=10m make fuzz.
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzDecodeFrame$$' -fuzztime $(FUZZTIME) ./eventstore/filestore
	$(GO) test -run '^$$' -fuzz '^FuzzRecoverTail$$' -fuzztime $(FUZZTIME_SLOW) ./eventstore/filestore
	$(GO) test -run '^$$' -fuzz '^FuzzParseEnvelope$$' -fuzztime $(FUZZTIME) ./domain
	$(GO) test -run '^$$' -fuzz '^FuzzDecodeEvent$$' -fuzztime $(FUZZTIME) ./domain
	$(GO) test -run '^$$' -fuzz '^FuzzParseUSD$$' -fuzztime $(FUZZTIME) ./domain
	$(GO) test -run '^$$' -fuzz '^FuzzImportParse$$' -fuzztime $(FUZZTIME) ./cmd/epochledger

# Longer soaks: 300 SIGKILLs of a writing process, 100 SIGKILLs of the
# PostgreSQL primary under load, and long fuzzing.
soak:
	EPOCHLEDGER_CRASH_KILLS=300 $(GO) test -run RealCrash -timeout 60m ./eventstore/filestore
	EPOCHLEDGER_PG_KILLS=100 $(GO) test -run '^TestFailover$$' -timeout 60m ./eventstore/postgres
	$(MAKE) fuzz FUZZTIME=5m FUZZTIME_SLOW=5m
