// Package doccheck_test checks what the docs show against the code: the
// README's quick start, copied into a module of its own, builds and runs
// (quickstart_test.go); every Go snippet in the README and in the package
// docs is code that an example compiles (snippets_test.go); and
// docs/WIRE.md describes the commands' messages as internal/app/wire makes
// them (wire_test.go).
//
// The package holds tests only.
package doccheck_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/shmring/shmring/internal/testsupport/shmtest"
)

// readFile returns the file at path, relative to the module root.
func readFile(t testing.TB, path string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(shmtest.RepoRoot(t), path))
	require.NoError(t, err)
	return string(b)
}

// markedBlock returns the fenced code block (```) that follows the line
// "<!-- marker -->" in a Markdown document, without its fences.
func markedBlock(t testing.TB, doc, name, marker string) string {
	t.Helper()
	_, after, ok := strings.Cut(doc, "<!-- "+marker+" -->\n")
	require.True(t, ok, "%s has no <!-- %s --> marker", name, marker)
	lines := strings.SplitAfter(after, "\n")
	require.True(t, strings.HasPrefix(lines[0], "```"), "%s: <!-- %s --> must be followed by a ``` block", name, marker)
	var body strings.Builder
	for _, line := range lines[1:] {
		if strings.TrimSpace(line) == "```" {
			return body.String()
		}
		body.WriteString(line)
	}
	t.Fatalf("%s: the block after <!-- %s --> does not end", name, marker)
	return ""
}
