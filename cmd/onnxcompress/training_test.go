package main

import (
	"bufio"
	"bytes"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Set-up shared by the tests of the training commands (finetune, hinge,
// lcs).

// interruptCLI runs the command, sends it SIGINT wait after the first stdout
// line that starts with prefix (the line printed as training starts), and
// returns all of stdout. The command must still exit 0.
func interruptCLI(t *testing.T, prefix string, wait time.Duration, args ...string) string {
	t.Helper()
	cmd := exec.Command(binary, args...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	lines := bufio.NewScanner(stdout)
	for lines.Scan() {
		out.WriteString(lines.Text() + "\n")
		if strings.HasPrefix(lines.Text(), prefix) {
			time.Sleep(wait)
			if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
				t.Fatal(err)
			}
			break
		}
	}
	for lines.Scan() {
		out.WriteString(lines.Text() + "\n")
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("%v after SIGINT: %s\n%s", err, stderr.String(), out.String())
	}
	return out.String()
}

// wantBadUsage runs base followed by each of extras and wants exit 2 from
// every one.
func wantBadUsage(t *testing.T, base []string, extras [][]string) {
	t.Helper()
	for _, extra := range extras {
		if _, stderr, code := runCLI(t, append(slices.Clone(base), extra...)...); code != exitBadInput {
			t.Errorf("%v: exit %d, want %d (%s)", extra, code, exitBadInput, stderr)
		}
	}
}
