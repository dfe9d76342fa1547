package shmtest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// CC returns the C compiler, as a command and its arguments: $CC if it is
// set and found, else the first of cc, gcc and clang on PATH. Without one
// the test skips, and says what was tried.
func CC(t testing.TB) []string {
	t.Helper()
	return compiler(t, "CC", "cc", "gcc", "clang")
}

// CXX is CC for C++: $CXX, c++, g++, clang++.
func CXX(t testing.TB) []string {
	t.Helper()
	return compiler(t, "CXX", "c++", "g++", "clang++")
}

func compiler(t testing.TB, env string, names ...string) []string {
	t.Helper()
	cc, err := FindCompiler(env, names...)
	if err != nil {
		t.Skip(err)
	}
	return cc
}

// FindCompiler returns the compiler that $env names (a command and its
// arguments) if it is found, else the first of names on PATH, else an
// error that says what was tried.
func FindCompiler(env string, names ...string) ([]string, error) {
	var tried []string
	if f := strings.Fields(os.Getenv(env)); len(f) > 0 {
		if p, err := exec.LookPath(f[0]); err == nil {
			return append([]string{p}, f[1:]...), nil
		}
		tried = append(tried, "$"+env+"="+os.Getenv(env))
	}
	for _, n := range names {
		if p, err := exec.LookPath(n); err == nil {
			return []string{p}, nil
		}
		tried = append(tried, n)
	}
	return nil, fmt.Errorf("shmtest: no compiler found (tried %s)", strings.Join(tried, ", "))
}

// Compile runs compiler with args; its error holds the compiler's output.
func Compile(compiler []string, args ...string) error {
	cmd := exec.Command(compiler[0], append(compiler[1:len(compiler):len(compiler)], args...)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%s %s: %v\n%s", filepath.Base(compiler[0]), strings.Join(args, " "), err, out)
	}
	return nil
}

// CompileSource writes src into a new directory of the test's as the file
// name (its suffix tells the compiler the language: .c, .cc), compiles it
// with args, and returns the program's path. The test fails with the
// compiler's output if it fails.
func CompileSource(t testing.TB, compiler []string, name, src string, args ...string) string {
	t.Helper()
	dir := t.TempDir()
	file := filepath.Join(dir, name)
	bin := strings.TrimSuffix(file, filepath.Ext(name))
	if err := os.WriteFile(file, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := Compile(compiler, append(args, "-o", bin, file)...); err != nil {
		t.Fatal(err)
	}
	return bin
}
