package doccheck_test

import (
	"go/ast"
	"go/doc/comment"
	"go/parser"
	"go/scanner"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/shmring/shmring/internal/testsupport/shmtest"
)

// snippet is Go code shown in a doc: a README block or a code block of a
// doc comment.
type snippet struct {
	where string // file:line
	code  string
}

// notExamples are doc comments whose code is not a program's and so comes
// from no example, each with the reason.
var notExamples = map[string]string{
	"futex/doc.go":  "the wait/wake contract as pseudo-code (ready, publish and state stand for the caller's own)",
	"shmseg/doc.go": "two expressions that show what errors.Is matches, not code to run",
}

// elided reports whether line stands for code left out of a snippet.
func elided(line string) bool { return strings.TrimSpace(line) == "..." }

// isGo reports whether code, with its elisions left out, parses as Go
// statements or declarations: what tells code from the diagrams and
// tables that doc comments also indent. An elision may cut a block short,
// so the blocks left open are closed first.
func isGo(code string) bool {
	var b strings.Builder
	for _, line := range strings.Split(code, "\n") {
		if !elided(line) {
			b.WriteString(line + "\n")
		}
	}
	var sc scanner.Scanner
	src := []byte(b.String())
	sc.Init(token.NewFileSet().AddFile("", -1, len(src)), src, nil, 0)
	open := 0
	for {
		_, tok, _ := sc.Scan()
		if tok == token.EOF {
			break
		}
		switch tok {
		case token.LBRACE:
			open++
		case token.RBRACE:
			open--
		}
	}
	b.WriteString(strings.Repeat("}\n", max(open, 0)))
	if _, err := parser.ParseFile(token.NewFileSet(), "", "package p\nfunc _() {\n"+b.String()+"}\n", 0); err == nil {
		return true
	}
	_, err := parser.ParseFile(token.NewFileSet(), "", "package p\n"+b.String(), 0)
	return err == nil
}

// normalized returns the lines of code without indentation and blank
// lines: a snippet may be indented differently from its source.
func normalized(code string) []string {
	var out []string
	for _, line := range strings.Split(code, "\n") {
		if line = strings.TrimSpace(line); line != "" {
			out = append(out, line)
		}
	}
	return out
}

// chunks splits a snippet at its elisions ("..." lines).
func chunks(code string) [][]string {
	var out [][]string
	var cur []string
	for _, line := range strings.Split(code, "\n") {
		if elided(line) {
			if len(cur) > 0 {
				out = append(out, normalized(strings.Join(cur, "\n")))
			}
			cur = nil
			continue
		}
		cur = append(cur, line)
	}
	if n := normalized(strings.Join(cur, "\n")); len(n) > 0 {
		out = append(out, n)
	}
	return out
}

// quotes reports whether every chunk of s appears in src, each as
// consecutive lines, in order.
func quotes(src []string, s [][]string) bool {
	at := 0
	for _, c := range s {
		found := false
		for i := at; i+len(c) <= len(src); i++ {
			if slices.Equal(src[i:i+len(c)], c) {
				at, found = i+len(c), true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// goFiles walks the repository's Go files and calls f with each one's path
// relative to the root.
func goFiles(t *testing.T, f func(rel, path string)) {
	t.Helper()
	root := shmtest.RepoRoot(t)
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == ".git" || d.Name() == "testdata") {
			return filepath.SkipDir
		}
		if !d.IsDir() && strings.HasSuffix(path, ".go") {
			rel, err := filepath.Rel(root, path)
			if err != nil {
				return err
			}
			f(filepath.ToSlash(rel), path)
		}
		return nil
	})
	require.NoError(t, err)
}

// docSnippets returns the Go code in the doc comments of the repository's
// non-test Go files: the package's, and those of its declarations.
func docSnippets(t *testing.T) []snippet {
	t.Helper()
	var out []snippet
	goFiles(t, func(rel, path string) {
		if strings.HasSuffix(rel, "_test.go") || notExamples[rel] != "" {
			return
		}
		fset := token.NewFileSet()
		f, err := parser.ParseFile(fset, path, nil, parser.ParseComments)
		require.NoError(t, err)
		groups := []*ast.CommentGroup{f.Doc}
		ast.Inspect(f, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.FuncDecl:
				groups = append(groups, n.Doc)
			case *ast.GenDecl:
				groups = append(groups, n.Doc)
			case *ast.TypeSpec:
				groups = append(groups, n.Doc)
			case *ast.ValueSpec:
				groups = append(groups, n.Doc)
			case *ast.Field:
				groups = append(groups, n.Doc)
			}
			return true
		})
		var p comment.Parser
		for _, g := range groups {
			if g == nil {
				continue
			}
			for _, b := range p.Parse(g.Text()).Content {
				if c, ok := b.(*comment.Code); ok && isGo(c.Text) {
					out = append(out, snippet{where: rel + ":" + strconv.Itoa(fset.Position(g.Pos()).Line), code: c.Text})
				}
			}
		}
	})
	return out
}

// readmeSnippets returns the README's ```go blocks but the quick start,
// which TestQuickStart runs.
func readmeSnippets(t *testing.T) []snippet {
	t.Helper()
	var out []snippet
	lines := strings.Split(readFile(t, "README.md"), "\n")
	for i := 0; i < len(lines); i++ {
		if strings.TrimSpace(lines[i]) != "```go" {
			continue
		}
		start := i
		var code strings.Builder
		for i++; i < len(lines) && strings.TrimSpace(lines[i]) != "```"; i++ {
			code.WriteString(lines[i] + "\n")
		}
		if start > 0 && strings.TrimSpace(lines[start-1]) == "<!-- quickstart -->" {
			continue
		}
		out = append(out, snippet{where: "README.md:" + strconv.Itoa(start+1), code: code.String()})
	}
	return out
}

// exampleSources returns, by path, the normalized lines of the code that
// runs as examples: test files with Example functions, and the programs
// under examples/ (their tests run them).
func exampleSources(t *testing.T) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	goFiles(t, func(rel, path string) {
		b, err := os.ReadFile(path)
		require.NoError(t, err)
		src := string(b)
		isExample := strings.HasSuffix(rel, "_test.go") && strings.Contains(src, "\nfunc Example")
		isProgram := strings.HasPrefix(rel, "examples/") && !strings.HasSuffix(rel, "_test.go")
		if isExample || isProgram {
			out[rel] = normalized(src)
		}
	})
	return out
}

// TestSnippetsAreExamples: every piece of Go code that the README or a doc
// comment shows is code that runs: quoted, line for line ("..." marks
// what is left out), from one example function's file or one program
// under examples/, which tests compile and run. The quick start, a whole
// program, is TestQuickStart's.
func TestSnippetsAreExamples(t *testing.T) {
	sources := exampleSources(t)
	require.NotEmpty(t, sources)
	snippets := append(readmeSnippets(t), docSnippets(t)...)
	require.NotEmpty(t, snippets)
	for _, s := range snippets {
		var from []string
		for path, src := range sources {
			if quotes(src, chunks(s.code)) {
				from = append(from, path)
			}
		}
		if len(from) == 0 {
			t.Errorf("%s shows Go code that no example or examples/ program has (quote it line for line, \"...\" for what is left out, or make it an example):\n%s", s.where, s.code)
			continue
		}
		t.Logf("%s: from %s", s.where, strings.Join(from, ", "))
	}
}

// TestSnippetCheck: the check above tells a quote from a misquote.
func TestSnippetCheck(t *testing.T) {
	src := normalized("func f() {\n\ta := 1\n\tb := 2\n\n\tc := 3\n\treturn\n}\n")
	for _, tc := range []struct {
		code string
		want bool
	}{
		{"a := 1\nb := 2\n", true},
		{"  a := 1\n\n  b := 2\n", true}, // indentation and blank lines do not count
		{"a := 1\n...\nc := 3\n", true},
		{"a := 1\nc := 3\n", false},      // not consecutive, and no elision says so
		{"c := 3\n...\na := 1\n", false}, // out of order
		{"a := 2\n", false},
	} {
		require.Equal(t, tc.want, quotes(src, chunks(tc.code)), "%q", tc.code)
	}
	require.True(t, isGo("r, err := f()\n...\nreturn err\n"))
	require.True(t, isGo("func f() {}\n"))
	require.True(t, isGo("if err := f(); err != nil {\n...\nreturn g()\n"), "a block cut short by an elision")
	require.False(t, isGo("+----+\n| ab |\n+----+\n"))
}
