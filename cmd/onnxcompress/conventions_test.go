package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/onnxcompress/onnxcompress/finetune/dataset"
	"github.com/onnxcompress/onnxcompress/graph"
	"github.com/onnxcompress/onnxcompress/internal/reference"
)

// Every command prints a table or JSON, so every one has --json, --quiet
// and a --help with examples.
func TestEveryCommandHasHelpWithExamplesJSONAndQuiet(t *testing.T) {
	for _, cmd := range newApp().Commands {
		t.Run(cmd.Name, func(t *testing.T) {
			stdout, stderr, code := runCLI(t, cmd.Name, "--help")
			if code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			for _, want := range []string{"Examples:", "onnxcompress " + cmd.Name + " ", "--json", "--quiet"} {
				if !strings.Contains(stdout, want) {
					t.Errorf("--help lacks %q:\n%s", want, stdout)
				}
			}
		})
	}
}

// cliCase is one cheap, real invocation of a command.
type cliCase struct {
	args  []string
	code  int // expected exit status
	needs []reference.Component
}

func cheapInvocations(t *testing.T) map[string]cliCase {
	t.Helper()
	lenet := bundledLeNet(t)
	dir := t.TempDir()
	x := filepath.Join(dir, "x.npy")
	if err := dataset.WriteNPY(x, graph.NewFloat32("x", []int64{1, 1, 28, 28}, make([]float32, 28*28))); err != nil {
		t.Fatal(err)
	}
	w := filepath.Join(dir, "w.npy")
	wd := make([]float32, 12*10)
	for i := range wd {
		wd[i] = float32(i%7) - 3
	}
	if err := dataset.WriteNPY(w, graph.NewFloat32("w", []int64{12, 10}, wd)); err != nil {
		t.Fatal(err)
	}
	small := filepath.Join(dir, "small.onnx")
	if _, stderr, code := runCLI(t, "compress", lenet, "-o", small, "--method", "svd", "--ratio", "0.5", "-q"); code != 0 {
		t.Fatalf("compress: exit %d: %s", code, stderr)
	}
	fm := []reference.Component{reference.FashionMNIST}
	return map[string]cliCase{
		"inspect":  {args: []string{lenet}},
		"compress": {args: []string{lenet, "-o", filepath.Join(dir, "c.onnx"), "--method", "tucker", "--ratio", "0.5"}},
		"finetune": {args: append([]string{small, "-o", filepath.Join(dir, "t.onnx"), "--teacher", lenet, "--data", fashionMNIST,
			"--max-steps", "3", "--eval-limit", "100"}, fmnistNorm...), needs: fm},
		"eval":   {args: append([]string{lenet, "--data", fashionMNIST, "--limit", "300"}, fmnistNorm...), needs: fm},
		"run":    {args: []string{lenet, "--input", "input=" + x, "-o", filepath.Join(dir, "out")}},
		"bench":  {args: []string{lenet, "--iters", "2"}},
		"diff":   {args: []string{lenet, small}, code: 1},
		"approx": {args: []string{"--matrix", w, "--method", "svd", "--rank", "2"}},
		"chain":  {args: []string{"--sup", "512 1024 1024 2048 2048 4096 4096 4096 4096 4096 4096 4096 4096 4608", "--sub", "2 4 256  2 4 128  2 4 64  2 2 32  2 2 16  2 2 8  8 9 1"}},
		"demo": {args: []string{"-o", filepath.Join(dir, "demo"), "--methods", "svd", "--steps", "3", "--eval-limit", "100"},
			needs: fm},
	}
}

// --json prints one JSON document and nothing else on stdout; --quiet
// prints nothing at all (demo's --quiet keeps its table: it is the
// product); the plain run prints something.
func TestEveryCommandPrintsJSONAndIsQuietOnRequest(t *testing.T) {
	cases := cheapInvocations(t)
	for _, cmd := range newApp().Commands {
		c, ok := cases[cmd.Name]
		t.Run(cmd.Name, func(t *testing.T) {
			if !ok {
				// Commands that need a trained artefact first (lcs-export)
				// are checked by their own tests.
				t.Skip("no cheap invocation of", cmd.Name)
			}
			reference.Require(t, c.needs...)
			run := func(extra ...string) (string, string) {
				args := append(append([]string{cmd.Name}, c.args...), extra...)
				stdout, stderr, code := runCLI(t, args...)
				if code != c.code {
					t.Fatalf("%v: exit %d, want %d: %s", args, code, c.code, stderr)
				}
				return stdout, stderr
			}
			stdout, _ := run("--json", "--quiet")
			var v any
			if cmd.Name == "demo" {
				if err := json.Unmarshal([]byte(stdout), &v); err != nil {
					t.Fatalf("--json --quiet: %v\n%s", err, stdout)
				}
				return // the rest takes long; TestDemoRunsThePipeline runs the table
			}
			if stdout != "" {
				t.Errorf("--json --quiet printed %q; --quiet wins", stdout)
			}
			stdout, _ = run("--json")
			dec := json.NewDecoder(strings.NewReader(stdout))
			if err := dec.Decode(&v); err != nil {
				t.Fatalf("--json: %v\n%s", err, stdout)
			}
			if dec.More() {
				t.Errorf("--json printed more than one document:\n%s", stdout)
			}
			if stdout, stderr := run("--quiet"); stdout != "" || stderr != "" {
				t.Errorf("--quiet printed stdout %q stderr %q", stdout, stderr)
			}
			if stdout, _ := run(); strings.TrimSpace(stdout) == "" {
				t.Error("the plain run printed nothing")
			}
		})
	}
}

// A malformed model gives exit 2 and one line naming the file on every
// command that reads one, never a panic.
func TestBadModelIsOneLineAndExit2OnEveryCommand(t *testing.T) {
	good, err := os.ReadFile(bundledLeNet(t))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	bad := filepath.Join(dir, "broken-model.onnx")
	if err := os.WriteFile(bad, good[:len(good)/3], 0o644); err != nil {
		t.Fatal(err)
	}
	x := filepath.Join(dir, "x.npy")
	if err := dataset.WriteNPY(x, graph.NewFloat32("x", []int64{1, 1, 28, 28}, make([]float32, 28*28))); err != nil {
		t.Fatal(err)
	}
	lenet := bundledLeNet(t)
	for name, args := range map[string][]string{
		"inspect":     {"inspect", bad},
		"compress":    {"compress", bad, "-o", filepath.Join(dir, "o.onnx"), "--method", "svd", "--ratio", "0.5"},
		"finetune":    {"finetune", bad, "-o", filepath.Join(dir, "t.onnx"), "--teacher", lenet, "--data", dir},
		"finetune/t":  {"finetune", lenet, "-o", filepath.Join(dir, "t.onnx"), "--teacher", bad, "--data", dir},
		"eval":        {"eval", bad, "--data", dir},
		"run":         {"run", bad, "--input", "input=" + x},
		"bench":       {"bench", bad},
		"diff/A":      {"diff", bad, lenet},
		"diff/B":      {"diff", lenet, bad},
		"diff/--json": {"diff", "--json", lenet, bad},
	} {
		t.Run(name, func(t *testing.T) {
			_, stderr, code := runCLI(t, args...)
			lines := strings.Split(strings.TrimSpace(stderr), "\n")
			if code != exitBadInput || len(lines) != 1 || !strings.Contains(stderr, "broken-model.onnx") || strings.Contains(stderr, "panic") {
				t.Fatalf("exit %d, stderr %q: want 2 and one line naming broken-model.onnx", code, stderr)
			}
		})
	}
	// Bad data: one line naming the data.
	_, stderr, code := runCLI(t, "eval", lenet, "--data", filepath.Join(dir, "no-such-data"))
	if code != exitBadInput || strings.Count(strings.TrimSpace(stderr), "\n") != 0 || !strings.Contains(stderr, "no-such-data") {
		t.Fatalf("eval on missing data: exit %d, stderr %q", code, stderr)
	}
}

// Long work shows progress on stderr: plain lines when stderr is not a
// terminal (here), never carriage returns, nothing on stdout.
func TestProgressIsPlainLinesOffTerminal(t *testing.T) {
	lenet := bundledLeNet(t)
	out := filepath.Join(t.TempDir(), "c.onnx")
	stdout, stderr, code := runCLI(t, "compress", lenet, "-o", out, "--method", "svd", "--rank", "4", "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(stderr, "compress 5/5  /fc3/Gemm") || strings.Contains(stderr, "\r") {
		t.Errorf("progress on stderr %q", stderr)
	}
	var v any
	if err := json.Unmarshal([]byte(stdout), &v); err != nil {
		t.Errorf("stdout is not only JSON: %v", err)
	}
	t.Run("eval", func(t *testing.T) {
		reference.Require(t, reference.FashionMNIST)
		stdout, stderr, code := runCLI(t, append([]string{"eval", lenet, "--data", fashionMNIST, "--limit", "700",
			"--batch", "100", "--json"}, fmnistNorm...)...)
		if code != 0 {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		if !strings.Contains(stderr, "eval 700/700") || strings.Contains(stderr, "\r") {
			t.Errorf("progress on stderr %q", stderr)
		}
		if err := json.Unmarshal([]byte(stdout), &v); err != nil {
			t.Errorf("stdout is not only JSON: %v", err)
		}
	})
}

// On a terminal the bar redraws one line in place and clears it.
func TestProgressBarRedrawsOneLine(t *testing.T) {
	var buf bytes.Buffer
	p := &progress{w: &buf, what: "eval", terminal: true, start: time.Now()}
	p.update(1, 4, "")
	p.update(4, 4, "loss 0.5")
	p.clear()
	got := buf.String()
	if strings.Count(got, "\n") != 0 || strings.Count(got, "\r\033[K") != 3 || !strings.Contains(got, "eval [==============================] 4/4  loss 0.5") {
		t.Fatalf("bar output %q", got)
	}
	buf.Reset()
	p = &progress{w: &buf, what: "eval", start: time.Now(), last: time.Now()}
	for i := 1; i <= 100; i++ {
		p.update(i, 100, "")
	}
	if got := buf.String(); got != "eval 100/100\n" {
		t.Fatalf("plain output within %v: %q", plainEvery, got)
	}
}

// Trouble while working, not with the input (here: the output folder is
// missing), is exit 1, still in one line naming the file.
func TestFailureWhileWorkingIsExit1(t *testing.T) {
	out := filepath.Join(t.TempDir(), "missing-folder", "small.onnx")
	_, stderr, code := runCLI(t, "compress", bundledLeNet(t), "-o", out, "--method", "svd", "--ratio", "0.5", "-q")
	if code != exitFailure || strings.Count(strings.TrimSpace(stderr), "\n") != 0 || !strings.Contains(stderr, "missing-folder") {
		t.Fatalf("exit %d, stderr %q: want 1 and one line naming the file", code, stderr)
	}
}
