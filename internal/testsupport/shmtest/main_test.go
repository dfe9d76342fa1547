package shmtest_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shmring/shmring/internal/testsupport/shmtest"
)

func TestMain(m *testing.M) { shmtest.Main(m.Run, childRoles.Play) }

var childRoles = shmtest.Roles{
	"echo": func(args []string) error {
		fmt.Println(strings.Join(args, "|"))
		return nil
	},
	"fail": func([]string) error { return errors.New("failed as asked") },
	"exit": func([]string) error { return fmt.Errorf("wrapped: %w", shmtest.ExitCode(7)) },
}

// TestChild: a child plays the role it is started with, gets its
// arguments, and exits 0 when the role returns nil, with an ExitCode's
// status, 1 on another error (said on stderr), and 1 for a role that is
// not there.
func TestChild(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	out, err := shmtest.Child(t, ctx, "echo", "a", "b c").Output()
	require.NoError(t, err)
	require.Equal(t, "a|b|c\n", string(out), "arguments are split at spaces")

	for _, tc := range []struct {
		role   string
		code   int
		stderr string
	}{
		{"fail", 1, "child fail: failed as asked"},
		{"exit", 7, ""},
		{"nobody", 1, `unknown child role "nobody"`},
	} {
		cmd := shmtest.Child(t, ctx, tc.role)
		var stderr strings.Builder
		cmd.Stderr = &stderr
		err := cmd.Run()
		require.Equal(t, tc.code, cmd.ProcessState.ExitCode(), "role %s: %v", tc.role, err)
		if tc.stderr == "" {
			require.Empty(t, stderr.String(), "role %s", tc.role)
		} else {
			require.Contains(t, stderr.String(), tc.stderr, "role %s", tc.role)
		}
	}
}
