# shmring: every entry point the README promises.
# `make demo` and `make test` are the two commands a fresh clone needs.

GO       ?= go
BIN      := bin
PKGS     := ./...
# Short fuzz runs inside `make test`; `make fuzz` runs them longer.
FUZZTIME ?= 10s

.PHONY: all build test check-fmt vet race one-proc fuzz-short fuzz demo bench bench-report clean

all: build

build:
	$(GO) build $(PKGS)

# The whole suite: formatting, vet (amd64 and arm64), race tests, the same
# tests on one P (GOMAXPROCS=1, short form), short fuzz runs.
test: check-fmt vet race one-proc fuzz-short

check-fmt:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet $(PKGS)
	GOARCH=arm64 $(GO) vet $(PKGS)

race:
	$(GO) test -race -count=1 -timeout 15m $(PKGS)

# Spinning code must yield: everything passes with one P.
one-proc:
	GOMAXPROCS=1 $(GO) test -short -count=1 -timeout 10m $(PKGS)

# Each fuzz target in turn (go test -fuzz takes one target per run).
FUZZ_TARGETS := ./ring:FuzzAttach ./ring:FuzzSlotLength

fuzz-short:
	@for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; name=$${t##*:}; \
		echo "fuzz $$name ($$pkg) for $(FUZZTIME)"; \
		$(GO) test -run '^$$' -fuzz "^$$name$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	done

fuzz:
	$(MAKE) fuzz-short FUZZTIME=5m

# Two real processes exchange 10^7 verified 64-byte messages and report.
# MESSAGES, SIZE, SLOTS, WAIT, BATCH, RATE, TIMEOUT override the defaults.
demo:
	GO=$(GO) bash scripts/demo.sh

# The performance suite: cross-process ring, C reference ring, pipe, Unix
# socket, Go channel, bare futex (bench/), and the heap ring (ring/).
bench:
	$(GO) test -run '^$$' -bench . -benchmem -timeout 60m ./bench/ ./ring/

# Runs the suite and writes docs/BENCHMARKS.md with its plots.
bench-report:
	$(GO) run ./bench/report

clean:
	rm -rf $(BIN)
	$(GO) clean -testcache
