package shmring_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"slices"
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
	"golang.org/x/sys":  true, // the library's system calls
	"golang.org/x/text": true, // golang.org/x/net's (conn's tests run x/net/nettest)
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

const modulePath = "github.com/shmring/shmring"

// layerOf names the layer of package path, an import path in the module
// (internal/README.md). "top" is everything else: cmd/, bench,
// ring/ringtest, reliability, examples, model.
func layerOf(path string) string {
	rel := strings.TrimPrefix(path, modulePath+"/")
	switch {
	case rel == "futex" || rel == "shmseg" || rel == "ring" || rel == "conn":
		return "library"
	case strings.HasPrefix(rel, "internal/platform/"):
		return "platform"
	case rel == "internal/app" || strings.HasPrefix(rel, "internal/app/"):
		return "app"
	case strings.HasPrefix(rel, "internal/testsupport/"):
		return "testsupport"
	}
	return "top"
}

// mayImport lists, for each layer, the layers its code (tests aside) may
// import.
var mayImport = map[string][]string{
	"platform":    {"platform"},
	"library":     {"platform", "library"},
	"app":         {"platform", "library", "app"},
	"testsupport": {"platform", "library", "app", "testsupport", "top"},
	"top":         {"platform", "library", "app", "top"},
}

// TestLayers: every package's imports, tests aside, keep to the layers of
// internal/README.md. Platform primitives import only each other (and
// outside the module, only the standard library and golang.org/x/sys); the
// library (futex, shmseg, ring) imports only them and itself, likewise; and
// no code but tests and test support imports test support.
func TestLayers(t *testing.T) {
	out := goCmd(t, "list", "-f", "{{.ImportPath}}|{{join .Imports \",\"}}", "./...")
	found := map[string]int{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		pkg, imports, _ := strings.Cut(line, "|")
		from := layerOf(pkg)
		found[from]++
		for _, imp := range strings.Split(imports, ",") {
			first, _, _ := strings.Cut(imp, "/")
			switch {
			case strings.HasPrefix(imp, modulePath+"/"):
				if to := layerOf(imp); !slices.Contains(mayImport[from], to) {
					t.Errorf("%s (%s) imports %s (%s); the %s layer may import %v", pkg, from, imp, to, from, mayImport[from])
				}
			case (from == "platform" || from == "library") && strings.Contains(first, ".") && !strings.HasPrefix(imp, "golang.org/x/sys/"):
				t.Errorf("%s (%s) imports %s; the %s layer needs only the standard library and golang.org/x/sys", pkg, from, imp, from)
			}
		}
	}
	// The folders the layers name are where the packages are.
	for layer, want := range map[string]int{"platform": 3, "library": 4, "app": 3, "testsupport": 3} {
		if found[layer] < want {
			t.Errorf("go list ./... found %d packages of the %s layer, want at least %d:\n%s", found[layer], layer, want, out)
		}
	}
}
