package shmring_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// reportOnly are modules that the benchmark report needs and the library
// must never: plotting and benchmark statistics. The report's own go.mod
// adds whatever else it requires.
var reportOnly = []string{"gonum.org/v1/plot", "golang.org/x/perf"}

// sharedWithReport are modules in the report's go.mod that the library's
// graph has for its own reasons.
var sharedWithReport = map[string]bool{
	"golang.org/x/sys": true, // the library's system calls
}

// TestModuleGraph: a program that embeds shmring finds in its module graph
// what the library needs, and nothing that only bench/report (a module of
// its own) does. go list -m all is the graph such a program's go.mod
// inherits.
func TestModuleGraph(t *testing.T) {
	// Requirements of bench/report/go.mod, direct and indirect.
	var report struct{ Require []struct{ Path string } }
	if err := json.Unmarshal(goCmd(t, "mod", "edit", "-json", "bench/report/go.mod"), &report); err != nil {
		t.Fatalf("go mod edit -json bench/report/go.mod: %v", err)
	}
	banned := map[string]bool{}
	for _, m := range reportOnly {
		banned[m] = true
	}
	for _, r := range report.Require {
		if !sharedWithReport[r.Path] {
			banned[r.Path] = true
		}
	}
	if len(report.Require) == 0 {
		t.Fatal("bench/report/go.mod requires nothing: not the report's go.mod?")
	}

	graph := strings.Split(strings.TrimSpace(string(goCmd(t, "list", "-m", "all"))), "\n")
	if len(graph) == 0 || graph[0] != "github.com/shmring/shmring" {
		t.Fatalf("go list -m all: the main module is not first:\n%s", strings.Join(graph, "\n"))
	}
	for _, line := range graph[1:] {
		path := strings.Fields(line)[0]
		if banned[path] {
			t.Errorf("the library's module graph has %s, which only bench/report needs", line)
		}
	}
	if t.Failed() {
		t.Logf("go list -m all:\n%s", strings.Join(graph, "\n"))
	}
}

// goCmd runs the go command in the module root (this test's directory),
// outside any workspace: a go.work that also holds bench/report would merge
// the two graphs.
func goCmd(t *testing.T, args ...string) []byte {
	t.Helper()
	cmd := exec.Command("go", args...)
	cmd.Env = append(os.Environ(), "GOWORK=off")
	out, err := cmd.Output()
	if err != nil {
		msg := err.Error()
		if ee, ok := err.(*exec.ExitError); ok {
			msg += "\n" + string(ee.Stderr)
		}
		t.Fatalf("go %s: %s", strings.Join(args, " "), msg)
	}
	return out
}
