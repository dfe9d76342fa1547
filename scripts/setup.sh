#!/usr/bin/env bash
# Installs what `make test` needs beyond Go, when it is missing:
#   spin  the Promela model checker that verifies model/wakeup.pml
#   gcc   spin preprocesses models with it, and its verifiers are C
#   g++   internal/testsupport/cinterop compiles include/shmring.h as C++ too (those
#         tests skip without a C++ compiler)
#   strace  reliability/TestFutexStrace cross-checks the futex counters
# Idempotent: with all present it changes nothing. Installs with apt-get
# (through sudo when not root), running apt-get update only if the install
# fails without it. Exits non-zero, saying why, if it cannot install.
set -euo pipefail

say() { echo "setup: $*"; }
die() {
	echo "setup: $*" >&2
	exit 1
}

need=()
command -v spin >/dev/null 2>&1 || need+=(spin)
command -v gcc >/dev/null 2>&1 || need+=(gcc)
command -v g++ >/dev/null 2>&1 || need+=(g++)
command -v strace >/dev/null 2>&1 || need+=(strace)

if ((${#need[@]} == 0)); then
	say "spin, gcc, g++ and strace are installed, nothing to do ($(spin -V 2>/dev/null | head -n 1))"
	exit 0
fi
say "missing: ${need[*]}"

command -v apt-get >/dev/null 2>&1 ||
	die "apt-get not found: install ${need[*]} with this system's package manager, then run make test again"

apt=(env DEBIAN_FRONTEND=noninteractive apt-get)
if [ "$(id -u)" -ne 0 ]; then
	command -v sudo >/dev/null 2>&1 ||
		die "not root and sudo not found: as root, run: apt-get install -y ${need[*]}"
	apt=(sudo "${apt[@]}")
fi

run() {
	echo "+ $*"
	"$@"
}

install=("${apt[@]}" install -y --no-install-recommends "${need[@]}")
if ! run "${install[@]}"; then
	say "install failed; refreshing the package lists and trying again"
	run "${apt[@]}" update || die "apt-get update failed"
	run "${install[@]}" || die "could not install ${need[*]} with apt-get"
fi

for tool in "${need[@]}"; do
	command -v "$tool" >/dev/null 2>&1 || die "$tool is still not on PATH after installing it"
done
say "installed ${need[*]} ($(spin -V 2>/dev/null | head -n 1))"
