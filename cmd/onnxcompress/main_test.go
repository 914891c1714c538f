package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// binary is the command built once for tests that check real exit codes.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "onnxcompress-cmd")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "onnxcompress")
	if out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput(); err != nil {
		os.Stderr.Write(out)
		panic(err)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// runCLI runs the built command and returns stdout, stderr and the exit code.
func runCLI(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(binary, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		code = exit.ExitCode()
	} else if err != nil {
		t.Fatalf("running %v: %v", args, err)
	}
	return stdout.String(), stderr.String(), code
}

func TestUnknownFlagIsExit2(t *testing.T) {
	_, _, code := runCLI(t, "inspect", "--no-such-flag", "x.onnx")
	if code != exitBadInput {
		t.Fatalf("exit code %d, want %d", code, exitBadInput)
	}
}

func TestMissingModelIsExit2(t *testing.T) {
	_, stderr, code := runCLI(t, "inspect", filepath.Join(t.TempDir(), "absent.onnx"))
	if code != exitBadInput || !strings.Contains(stderr, "absent.onnx") {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
}

// Every kind of malformed model gives exit 2 and one line naming the file,
// never a panic trace.
func TestBadModelFilesAreExit2WithOneLine(t *testing.T) {
	good, err := os.ReadFile(bundledLeNet(t))
	if err != nil {
		t.Fatal(err)
	}
	cases := map[string][]byte{
		"truncated.onnx": good[:len(good)/2],
		"random.onnx":    pseudoRandomBytes(4096),
		"empty-ish.onnx": {0xff, 0xff, 0xff},
	}
	for name, data := range cases {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), name)
			if err := os.WriteFile(path, data, 0o644); err != nil {
				t.Fatal(err)
			}
			_, stderr, code := runCLI(t, "inspect", path)
			if code != exitBadInput {
				t.Fatalf("exit %d, want 2; stderr %q", code, stderr)
			}
			lines := strings.Split(strings.TrimSpace(stderr), "\n")
			if len(lines) != 1 || !strings.Contains(lines[0], name) || strings.Contains(stderr, "panic") {
				t.Fatalf("want one line naming %s, got %q", name, stderr)
			}
		})
	}
}

func pseudoRandomBytes(n int) []byte {
	b := make([]byte, n)
	x := uint32(2463534242)
	for i := range b {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		b[i] = byte(x)
	}
	return b
}

func bundledLeNet(t *testing.T) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join("..", "..", "testmodels", "fmnist", "lenet5.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	return p
}
