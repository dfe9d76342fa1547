package app

import (
	"bytes"
	"flag"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestUsageStatesLiveness: -h says how often the command checks its peer,
// the Liveness that attach gives the ring, and that no flag changes it: a
// C peer's author (whose header defaults to 1 s) reads it there, not in
// docs/DESIGN.md.
func TestUsageStatesLiveness(t *testing.T) {
	for _, role := range []Role{Producer, Consumer} {
		var cfg Config
		fs := FlagSet(role, &cfg, flag.ContinueOnError)
		var out bytes.Buffer
		fs.SetOutput(&out)
		fs.Usage()
		peer := role.peer().String()
		require.Contains(t, out.String(), "checks every 250ms that the "+peer+"'s\nprocess is alive (no flag changes this",
			"%s -h", role)
	}
}
