package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/onnxcompress/onnxcompress/internal/reference"
	"github.com/onnxcompress/onnxcompress/onnx"
	"github.com/onnxcompress/onnxcompress/testmodels"
)

var fmnistNorm = []string{"--mean", "0.286", "--std", "0.353"}

func testAccuracy(t *testing.T, model string) float64 {
	t.Helper()
	stdout, stderr, code := runCLI(t, append([]string{"eval", model, "--data", fashionMNIST, "--json"}, fmnistNorm...)...)
	if code != 0 {
		t.Fatalf("eval %s: exit %d: %s", model, code, stderr)
	}
	var res struct{ Accuracy float64 }
	if err := json.Unmarshal([]byte(stdout), &res); err != nil {
		t.Fatal(err)
	}
	return res.Accuracy
}

// The bundled LeNet with its fully connected layers truncated to rank 12 by
// SVD (a fifth of its parameters; fixed ranks, so the global budget's
// allocation does not move the starting point) loses accuracy; 300
// distillation steps win most of it back: at least 3 points, to within 2
// points of the original. The weights go back into the same graph under the
// same names.
func TestFinetuneRecoversSVDLeNet(t *testing.T) {
	reference.Require(t, reference.FashionMNIST)
	info, err := testmodels.BundledLeNetInfo()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	small, tuned := filepath.Join(dir, "svd.onnx"), filepath.Join(dir, "tuned.onnx")
	if _, stderr, code := runCLI(t, "compress", bundledLeNet(t), "-o", small, "--method", "svd", "--rank", "12",
		"--layers", "/fc1/*", "--layers", "/fc2/*", "--quiet"); code != 0 {
		t.Fatalf("compress: exit %d: %s", code, stderr)
	}
	before := testAccuracy(t, small)
	stdout, stderr, code := runCLI(t, append([]string{"finetune", small, "-o", tuned, "--teacher", bundledLeNet(t),
		"--data", fashionMNIST, "--max-steps", "300", "--threads", "1", "--seed", "1"}, fmnistNorm...)...)
	if code != 0 {
		t.Fatalf("finetune: exit %d: %s", code, stderr)
	}
	after := testAccuracy(t, tuned)
	t.Logf("test top-1: original %.2f%%, svd rank 12 %.2f%%, after 300 KD steps %.2f%%", 100*info.TestAccuracy, 100*before, 100*after)
	if after < before+0.03 || after < info.TestAccuracy-0.02 {
		t.Errorf("accuracy %.4f → %.4f (original %.4f): want +3 points and within 2 of the original", before, after, info.TestAccuracy)
	}
	// Not a terminal: plain progress lines on stderr, no carriage
	// returns; the epoch lines are results, on stdout.
	if strings.Contains(stderr, "\r") || !strings.Contains(stderr, "finetune 300/300") || !strings.Contains(stdout, "epoch 1:") {
		t.Errorf("progress output:\n%s\nresults:\n%s", stderr, stdout)
	}
	a, err := onnx.Read(small)
	if err != nil {
		t.Fatal(err)
	}
	b, err := onnx.Read(tuned)
	if err != nil {
		t.Fatal(err)
	}
	if len(a.Graph.Nodes) != len(b.Graph.Nodes) || len(a.Graph.Initializers) != len(b.Graph.Initializers) {
		t.Fatal("fine-tuning changed the graph's structure")
	}
	changed := 0
	for i, v := range a.Graph.Initializers {
		w := b.Graph.Initializers[i]
		if v.Name != w.Name || !slices.Equal(v.Const.Dims, w.Const.Dims) {
			t.Fatalf("initializer %d: %s%v became %s%v", i, v.Name, v.Const.Dims, w.Name, w.Const.Dims)
		}
		if !bytes.Equal(v.Const.Raw, w.Const.Raw) {
			changed++
		}
	}
	if changed == 0 {
		t.Error("no initializer changed")
	}
	if err := reference.CheckModel(tuned); err != nil && reference.Available(reference.Checker) == nil {
		t.Errorf("ONNX checker: %v", err)
	}
}

// SIGINT stops training cleanly: exit 0 and the best model so far written.
func TestFinetuneInterruptKeepsModel(t *testing.T) {
	reference.Require(t, reference.FashionMNIST)
	dir := t.TempDir()
	small, tuned := filepath.Join(dir, "svd.onnx"), filepath.Join(dir, "tuned.onnx")
	if _, stderr, code := runCLI(t, "compress", bundledLeNet(t), "-o", small, "--method", "svd", "--ratio", "0.25", "--quiet"); code != 0 {
		t.Fatalf("compress: exit %d: %s", code, stderr)
	}
	out := interruptCLI(t, "epoch 0:", 200*time.Millisecond, append([]string{"finetune", small, "-o", tuned, "--teacher", bundledLeNet(t),
		"--data", fashionMNIST, "--epochs", "5", "--threads", "1", "--eval-limit", "500"}, fmnistNorm...)...)
	if !strings.Contains(out, "interrupted after") {
		t.Errorf("output does not say it was interrupted:\n%s", out)
	}
	if _, err := os.Stat(tuned); err != nil {
		t.Fatal(err)
	}
	if _, err := onnx.Read(tuned); err != nil {
		t.Fatal(err)
	}
}

func TestFinetuneBadUsageIsExit2(t *testing.T) {
	reference.Require(t, reference.FashionMNIST)
	dir := t.TempDir()
	out := filepath.Join(dir, "out.onnx")
	base := []string{"finetune", bundledLeNet(t), "-o", out, "--data", fashionMNIST}
	wantBadUsage(t, base, [][]string{
		{}, // no --teacher
		{"--teacher", bundledLeNet(t), "--optimizer", "rmsprop"},
		{"--teacher", bundledLeNet(t), "--device", "cuda"},
		{"--teacher", bundledLeNet(t), "--kd-alpha", "2"},
		{"--teacher", bundledLeNet(t), "--train", "factors"}, // the original model has no rewritten layers
	})
	if _, err := os.Stat(out); err == nil {
		t.Error("an output was written")
	}
}
