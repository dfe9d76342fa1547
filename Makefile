# shmring: every entry point the README promises.
# `make demo` and `make test` are the two commands a fresh clone needs.

GO       ?= go
BIN      := bin
PKGS     := ./...
# Short fuzz runs inside `make test`; `make fuzz` runs them longer. The
# budget is a count of inputs, not a duration: Go 1.26's coordinator can fail
# a target with a bare "context deadline exceeded" when a -fuzztime duration
# ends while a worker is mid-input on a loaded machine (go.dev/issue/75804,
# fixed in Go 1.27). A count has no deadline to race; a slow machine just
# takes longer. 200000 inputs take about 7 s per target here.
FUZZTIME ?= 200000x

.PHONY: all setup build test check-fmt vet race one-proc portable fuzz-short examples report-test fuzz soak fault demo bench bench-report clean

all: build

build:
	$(GO) build $(PKGS)

# The whole suite: formatting, vet (amd64, arm64, macOS, Windows), race
# tests, the same tests on one P (GOMAXPROCS=1, short form), the ring over
# the portable futex, short fuzz runs, the examples that are modules of
# their own, and the benchmark report's own module.
# SHMRING_REQUIRE_SPIN makes the model check (model/) fail, not skip, if
# spin is missing; `setup` installs it.
test: export SHMRING_REQUIRE_SPIN = 1
test: setup check-fmt vet race one-proc portable fuzz-short examples report-test

# What the tests need beyond Go: spin and a C compiler (scripts/setup.sh
# installs them with apt-get when missing).
setup:
	bash scripts/setup.sh

race one-proc portable: | setup

check-fmt:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi

# macOS too, everything: code that uses the library must build where many
# write it (System V calls fail there with errors.ErrUnsupported; see
# "Other platforms" in the ring package's doc). Windows: the library and
# its tests (the commands and the cross-process suites need Unix).
LIB_PKGS := ./ring/... ./shmseg/... ./futex/... ./internal/platform/...

vet:
	$(GO) vet $(PKGS)
	$(GO) vet -tags shmring_crashpoints $(PKGS)
	GOARCH=arm64 $(GO) vet $(PKGS)
	GOOS=darwin GOARCH=amd64 $(GO) vet $(PKGS)
	GOOS=darwin GOARCH=arm64 $(GO) vet $(PKGS)
	GOOS=windows GOARCH=amd64 $(GO) vet $(LIB_PKGS)

race:
	$(GO) test -race -count=1 -timeout 15m $(PKGS)

# Spinning code must yield: everything passes with one P.
one-proc:
	GOMAXPROCS=1 $(GO) test -short -count=1 -timeout 10m $(PKGS)

# The futex and ring tests over the futex stand-in of the platforms
# without futex(2) (macOS, Windows), which is how Linux checks that rings
# there are correct. TestPingPongFutex is left out: across processes the
# stand-in wakes by polling, correct but a minute long.
portable:
	$(GO) test -short -count=1 -timeout 10m -tags shmring_portable_futex \
		-skip '^TestPingPongFutex$$' ./futex/ ./ring/

# Each fuzz target in turn (go test -fuzz takes one target per run).
FUZZ_TARGETS := ./ring:FuzzAttach ./ring:FuzzSlotLength ./ring:FuzzFragments ./ring:FuzzMessageReader

fuzz-short:
	@for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; name=$${t##*:}; \
		echo "fuzz $$name ($$pkg), $(FUZZTIME) inputs"; \
		$(GO) test -run '^$$' -fuzz "^$$name$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	done

fuzz:
	$(MAKE) fuzz-short FUZZTIME=10000000x

# Examples with a go.mod of their own (so that the library's does not carry
# their dependencies): the root's ./... does not reach them.
EXAMPLE_MODULES := examples/prometheus examples/grpc

examples:
	@for m in $(EXAMPLE_MODULES); do \
		echo "examples: $$m"; \
		(cd $$m && $(GO) vet ./... && $(GO) test -count=1 ./...) || exit 1; \
	done

# bench/report is a module of its own, so that its plotting and statistics
# dependencies stay out of the library's module graph; ./... above does not
# reach into it. Its tests parse and render saved output: no benchmark runs.
# bench/peers (conn against sockets and shmipc-go) is one too, for
# shmipc-go's sake; its tests are a smoke run of every transport, seconds.
report-test:
	cd bench/report && $(GO) vet ./...
	cd bench/report && $(GO) test -count=1 ./...
	cd bench/peers && $(GO) vet ./...
	cd bench/peers && $(GO) test -count=1 ./...

# The long forms of the reliability tests (reliability/, docs/RELIABILITY.md);
# their short forms run in `make test`. Counts can be lowered or raised:
# make soak SOAK_MESSAGES=1e8.
SOAK_MESSAGES     ?= 1e9
PINGPONG_ROUNDS   ?= 1e8
FASTPATH_MESSAGES ?= 1e8
HUNT_ROUNDS       ?= 2e6
FAULT_RUNS        ?= 1000
HOSTILE_RUNS      ?= 1000
SOAK_TESTS  := ^(TestSoak|TestLostWakeups|TestFastPath|TestFutexStrace)$$
FAULT_TESTS := ^(TestCrashPointsProducer|TestCrashPointsConsumer|TestCrashPointsLarge|TestRandomKills|TestPeerKilledAnyWaitMode|TestStoppedPeer|TestPidReuse|TestNoLeaksAfterKills|TestCloseAcrossProcesses|TestInsecure|TestHostileTargeted|TestHostileBeforeClaim|TestHostileWriter|TestConnServerKilled|TestConnClientKilled|TestConnKilledMidStream|TestConnServerKilledClients)$$
# Unattached segments (nattch 0) under the tests' keys, 0x5e7a0000-0x5e7affff
# (decimal in /proc/sysvipc/shm), by id.
TEST_SEGMENTS := awk 'NR > 1 && $$1 >= 1585053696 && $$1 <= 1585119231 && $$7 == 0 { print $$2 }' /proc/sysvipc/shm | sort

# >= 10^9 checked messages between two processes over rings of 2 to 2^20
# slots and messages of 20 bytes to 64 KiB; lost wake-up hunt at GOMAXPROCS
# 1 and 2; futex calls of a saturated stream, cross-checked with strace;
# then the race build's wake-up hunt (ring.TestWakeupHunt, HUNT_ROUNDS per
# case; make test runs 10^5).
soak:
	SHMRING_SOAK_MESSAGES=$(SOAK_MESSAGES) SHMRING_PINGPONG_ROUNDS=$(PINGPONG_ROUNDS) \
	SHMRING_FASTPATH_MESSAGES=$(FASTPATH_MESSAGES) \
	$(GO) test -count=1 -v -timeout 3h -run '$(SOAK_TESTS)' ./reliability/
	SHMRING_HUNT_ROUNDS=$(HUNT_ROUNDS) $(GO) test -race -count=1 -v -timeout 3h -run '^TestWakeupHunt$$' ./ring/

# FAULT_RUNS kills per crash point and per random-kill scenario, stops,
# pid reuse, takeovers, HOSTILE_RUNS hostile-writer runs per scenario; then
# no SysV segment of the tests' keys may be left behind that was not there
# before.
fault:
	@base=$$(mktemp); $(TEST_SEGMENTS) > $$base; \
	SHMRING_FAULT_RUNS=$(FAULT_RUNS) SHMRING_HOSTILE_RUNS=$(HOSTILE_RUNS) \
		$(GO) test -count=1 -v -timeout 3h -run '$(FAULT_TESTS)' ./reliability/; status=$$?; \
	leaked=$$($(TEST_SEGMENTS) | comm -13 $$base -); rm -f $$base; \
	if [ -n "$$leaked" ]; then \
		echo "fault: SysV segments of the tests' keys left behind (ids): $$leaked"; exit 1; \
	fi; \
	echo "fault: no SysV segment of the tests' keys left behind"; exit $$status

# Two real processes exchange 10^7 verified 64-byte messages and report.
# MESSAGES, SIZE, SLOTS, SLOT_SIZE, WAIT, BATCH, RATE, TRAIL, TIMEOUT
# override the defaults (scripts/demo.sh): make demo SIZE=1048576 sends
# 3814 messages of 1 MiB, 64 fragments each in 4096 slots of 16392 bytes.
demo:
	GO=$(GO) bash scripts/demo.sh

# The performance suite: cross-process ring, C reference ring, pipe, Unix
# socket, Go channel, bare futex (bench/), and the heap ring (ring/);
# messages of 8 B to 16 MiB (BenchmarkThroughputLarge, BenchmarkRoundTripLarge:
# 64 KiB to 16 MiB in fragments through 1 KiB and 16 KiB slots), which
# bench-report runs apart at -benchtime 0.25s (bench/report -help); then
# package conn against a Unix socket, TCP and shmipc-go (bench/peers, a
# module of its own: round trips, throughput, set-up, 1000 idle clients).
bench:
	$(GO) test -run '^$$' -bench . -benchmem -timeout 60m ./bench/ ./ring/
	cd bench/peers && $(GO) test -run '^$$' -bench . -benchmem -timeout 60m ./...

# Runs the suite, bench/peers included, and writes docs/BENCHMARKS.md with
# its plots. The report (bench/report, a module of its own) finds the
# checkout above it; -out and -raw are relative to the checkout's root.
# BENCH_REPORT_FLAGS adds flags: make bench-report BENCH_REPORT_FLAGS=-short
# for a quick look (and -out, -raw elsewhere, to keep the page).
bench-report:
	cd bench/report && $(GO) run . -passes 5 $(BENCH_REPORT_FLAGS)

clean:
	rm -rf $(BIN)
	$(GO) clean -testcache
