package proc_test

import (
	"fmt"
	"io/fs"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/shmring/shmring/internal/platform/proc"
)

// line is a stat line of a process named comm, as the kernel writes it,
// with the given state, utime, stime and start time.
func line(comm, state, utime, stime, start string) string {
	return "4242 (" + comm + ") " + state + " 1 4242 4242 0 -1 4194560 170 0 0 0 " +
		utime + " " + stime + " 0 0 20 0 1 0 " + start +
		" 3133440 413 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0 0 0 0 0 0 0 0\n"
}

// TestParseStat: fields are counted from the last ')', whatever the command
// name holds; every malformed line is ErrMalformed, and the error quotes it.
func TestParseStat(t *testing.T) {
	ok := []struct {
		name, text string
		want       proc.Stat
	}{
		{"plain", line("sleep", "S", "7", "3", "937864"), proc.Stat{State: 'S', UTime: 7, STime: 3, Start: 937864}},
		{"name with spaces and parentheses", line(") T 9 (x) ", "R", "0", "0", "1"), proc.Stat{State: 'R', Start: 1}},
		{"no newline", strings.TrimSuffix(line("a", "Z", "1", "2", "3"), "\n"), proc.Stat{State: 'Z', UTime: 1, STime: 2, Start: 3}},
		{"largest start", line("a", "t", "0", "0", "18446744073709551615"), proc.Stat{State: 't', Start: 1<<64 - 1}},
		{"exactly 22 fields", "1 (a) S 1 1 1 0 -1 0 0 0 0 0 5 6 0 0 20 0 1 0 99", proc.Stat{State: 'S', UTime: 5, STime: 6, Start: 99}},
	}
	for _, tc := range ok {
		t.Run(tc.name, func(t *testing.T) {
			got, err := proc.ParseStat([]byte(tc.text))
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
		})
	}

	bad := []struct{ name, text, why string }{
		{"empty", "", "no ')'"},
		{"no closing parenthesis", "4242 (sleep S 1 2", "no ')'"},
		{"21 fields", "1 (a) S 1 1 1 0 -1 0 0 0 0 0 5 6 0 0 20 0 1 0", "fewer than 22 fields"},
		{"two-letter state", line("a", "RS", "0", "0", "1"), "state"},
		{"utime not a number", line("a", "S", "x", "0", "1"), "not a number"},
		{"negative stime", line("a", "S", "0", "-1", "1"), "not a number"},
		{"start beyond 64 bits", line("a", "S", "0", "0", "18446744073709551616"), "not a number"},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			_, err := proc.ParseStat([]byte(tc.text))
			require.ErrorIs(t, err, proc.ErrMalformed)
			require.ErrorContains(t, err, tc.why)
			require.ErrorContains(t, err, fmt.Sprintf("%q", tc.text), "the error quotes the line")
		})
	}
}

// TestParseStatAllocs: polling a process through an open descriptor costs
// no garbage (bench reads its peer's state inside a measured span).
func TestParseStatAllocs(t *testing.T) {
	b := []byte(line("sleep", "S", "7", "3", "937864"))
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := proc.ParseStat(b); err != nil {
			t.Fatal(err)
		}
	})
	require.Zero(t, allocs)
}

// TestReadStat: this process's own entry reads back, with the start time
// of its main thread; a free pid's entry does not exist.
func TestReadStat(t *testing.T) {
	pid := os.Getpid()
	st, err := proc.ReadStat(pid)
	require.NoError(t, err)
	require.False(t, st.Exited(), "state %c", st.State)
	require.NotZero(t, st.Start)
	again, err := proc.ReadStat(pid)
	require.NoError(t, err)
	require.Equal(t, st.Start, again.Start)
	require.GreaterOrEqual(t, again.UTime+again.STime, st.UTime+st.STime, "CPU time only grows")

	threads, err := proc.Threads(pid)
	require.NoError(t, err)
	var main bool
	for _, th := range threads {
		require.GreaterOrEqual(t, th.Start, st.Start, "thread %d started before its process", th.TID)
		if th.TID == pid {
			main = true
			require.Equal(t, st.Start, th.Start, "the main thread's start time is the process's")
		}
	}
	require.True(t, main, "the main thread (TID %d) is among the threads %v", pid, threads)

	_, err = proc.ReadStat(freePid)
	require.ErrorIs(t, err, fs.ErrNotExist)
	threads, err = proc.Threads(freePid)
	require.NoError(t, err, "a process that is gone has no threads, and that is no error")
	require.Empty(t, threads)
}

// freePid is no process: pids are below pid_max, at most PID_MAX_LIMIT
// (2^22).
const freePid = 1 << 22
