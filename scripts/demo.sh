#!/usr/bin/env bash
# demo.sh: build the commands, stream messages from a producer process to a
# consumer process through a fresh ring, print both reports, and check that
# nothing was lost or corrupt and that no segment is left behind.
#
# Settings (environment): SIZE (default 64; larger than a slot, a message
# travels in fragments), MESSAGES (10000000, or fewer so that they make at
# most 4 GB: 3814 of 1 MiB), SLOTS (4096), SLOT_SIZE (0: derived from SIZE,
# at most 16 KiB of payload), WAIT (adaptive), BATCH (0: one message per
# call), RATE (0: as fast as possible; a rate below the ring's capacity
# shows latency without queueing), TRAIL (1; 0 runs the consumer with
# -no-trail: lower latency in a full-speed stream, lower throughput),
# TIMEOUT (10s), GO (go), BIN (bin: where the commands are built). Exit
# status 0 only if both processes exited 0 and the segment is gone.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

SIZE=${SIZE:-64}
if [[ ! $SIZE =~ ^[0-9]+$ ]] || (( SIZE == 0 )); then
	echo "demo: SIZE=$SIZE: want a message size in bytes" >&2
	exit 2
fi
MESSAGES=${MESSAGES:-$(( SIZE * 10000000 <= 4000000000 ? 10000000 : 4000000000 / SIZE ))}
SLOTS=${SLOTS:-4096}
SLOT_SIZE=${SLOT_SIZE:-0}
WAIT=${WAIT:-adaptive}
BATCH=${BATCH:-0}
RATE=${RATE:-0}
TRAIL=${TRAIL:-1}
TIMEOUT=${TIMEOUT:-10s}
GO=${GO:-go}
BIN=${BIN:-bin}

# has_key DEC: is there a segment with this key? /proc/sysvipc/shm shows
# keys in signed decimal, in the first column.
has_key() {
	local k rest
	while read -r k rest; do
		[[ $k == "$1" ]] && return 0
	done < <(tail -n +2 /proc/sysvipc/shm)
	return 1
}

echo "demo: building $BIN/producer, $BIN/consumer, $BIN/shmring"
"$GO" build -o "$BIN/" ./cmd/...

# A fresh key in 0x5d30xxxx, one no segment has now.
for ((i = 0; ; i++)); do
	key_dec=$(( 0x5d300000 | ((RANDOM << 1 ^ RANDOM ^ $$) & 0xffff) ))
	has_key "$key_dec" || break
	(( i < 100 )) || { echo "demo: no free key" >&2; exit 1; }
done
key=$(printf '0x%08x' "$key_dec")

tmp=$(mktemp -d)
cons_pid= prod_pid=

# On any exit: stop what still runs (SIGTERM ends them cleanly, SIGKILL
# if that takes more than 2 s), remove the ring if it is still there.
cleanup() {
	local rc=$? pid
	trap - EXIT INT TERM
	for pid in $prod_pid $cons_pid; do
		kill -0 "$pid" 2>/dev/null || continue
		kill -TERM "$pid" 2>/dev/null || true
		for _ in {1..20}; do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	if has_key "$key_dec"; then
		echo "demo: removing leftover ring $key" >&2
		"$BIN/shmring" rm -force "$key" >&2 || true
		(( rc != 0 )) || rc=1
	fi
	rm -rf "$tmp"
	exit "$rc"
}
trap cleanup EXIT
# Ctrl-C reaches the whole process group: the producer and consumer end
# cleanly and print their reports, which the script waits for and shows. A
# SIGTERM to the script alone is passed on to them.
interrupted=
trap 'interrupted=130' INT
trap 'interrupted=143; kill -TERM $prod_pid $cons_pid 2>/dev/null || true' TERM

# wait_for PID: its exit status, waiting on through trapped signals.
wait_for() {
	local rc
	while :; do
		wait "$1" && return 0
		rc=$?
		# More than 128 is a trapped signal if the process still exists.
		(( rc > 128 )) && kill -0 "$1" 2>/dev/null && continue
		return "$rc"
	done
}

flags=(-key "$key" -size "$SIZE" -slot-size "$SLOT_SIZE" -slots "$SLOTS" -wait "$WAIT" -batch "$BATCH" -timeout "$TIMEOUT")
slot="slots of $SLOT_SIZE bytes"
(( SLOT_SIZE != 0 )) || slot="slots, slot size derived from SIZE"
echo "demo: $MESSAGES messages of $SIZE bytes through ring $key ($SLOTS $slot, wait $WAIT, batch $BATCH)"

# The consumer's stderr stays on the terminal: its progress line shows
# there while the stream runs.
cons_flags=()
if [[ $TRAIL == 0 ]]; then
	cons_flags=(-no-trail)
fi
"$BIN/consumer" "${flags[@]}" "${cons_flags[@]}" >"$tmp/consumer.out" &
cons_pid=$!
"$BIN/producer" "${flags[@]}" -count "$MESSAGES" -rate "$RATE" >"$tmp/producer.out" 2>"$tmp/producer.err" &
prod_pid=$!

prod_rc=0 cons_rc=0
wait_for "$prod_pid" || prod_rc=$?
wait_for "$cons_pid" || cons_rc=$?
prod_pid= cons_pid=

echo
cat "$tmp/producer.out" "$tmp/producer.err"
echo
cat "$tmp/consumer.out"
echo

status=0
if (( prod_rc != 0 )); then echo "demo: producer exited $prod_rc" >&2; status=1; fi
if (( cons_rc != 0 )); then echo "demo: consumer exited $cons_rc" >&2; status=1; fi
if has_key "$key_dec"; then
	echo "demo: ring $key is still in /proc/sysvipc/shm" >&2
	status=1
else
	echo "demo: ring $key is gone from /proc/sysvipc/shm"
fi
if [[ -n $interrupted ]]; then
	echo "demo: interrupted" >&2
	exit "$interrupted"
fi
if (( status == 0 )); then echo "demo: OK"; else echo "demo: FAILED" >&2; fi
exit "$status"
