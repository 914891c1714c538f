package dataset

import (
	"os"
	"os/exec"
	"testing"
)

// requireComponent fails under CI=true when a real component is missing and
// skips otherwise.
func requireComponent(t testing.TB, what string, present bool) {
	t.Helper()
	if present {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s is missing (required under CI=true)", what)
	}
	t.Skipf("%s is missing", what)
}

const systemPython = "/usr/bin/python3"

// runPython runs a script under the system Python that has numpy (and torch),
// with args after the script; it fails the test with the script's output.
func runPython(t *testing.T, script string, args ...string) string {
	t.Helper()
	_, err := os.Stat(systemPython)
	present := err == nil && exec.Command(systemPython, "-c", "import numpy").Run() == nil
	requireComponent(t, "numpy under "+systemPython, present)
	cmd := exec.Command(systemPython, append([]string{"-c", script}, args...)...)
	cmd.Env = append(os.Environ(), "OMP_NUM_THREADS=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("python: %v\n%s", err, out)
	}
	return string(out)
}
