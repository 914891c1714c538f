package main

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/onnxcompress/onnxcompress"
	"github.com/onnxcompress/onnxcompress/internal/reference"
	"github.com/onnxcompress/onnxcompress/testmodels"
)

func bundledResNet20(t *testing.T) string {
	t.Helper()
	p, err := testmodels.ResNet20FMNIST.Path()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func inspectMACs(t *testing.T, path string) int64 {
	t.Helper()
	m, err := onnxcompress.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := onnxcompress.Inspect(m, nil)
	if err != nil {
		t.Fatal(err)
	}
	return rep.MACs
}

// compress --method hinge --train-data runs every stage with progress on
// stderr, hits --flops-ratio within 0.001 as inspect counts it, and writes
// the model, the report and its SVG curve.
func TestHingeTrainedCompress(t *testing.T) {
	reference.Require(t, reference.FashionMNIST)
	dir := t.TempDir()
	out, report := filepath.Join(dir, "r20.hinge.onnx"), filepath.Join(dir, "hinge.json")
	stdout, stderr, code := runCLI(t, append([]string{"compress", bundledResNet20(t), "-o", out, "--method", "hinge",
		"--train-data", fashionMNIST, "--flops-ratio", "0.5", "--max-steps", "3", "--batch", "16", "--threads", "1",
		"--eval-limit", "100", "--curve-points", "1", "--report", report}, fmnistNorm...)...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(stderr, "hinge search 3/3") || !strings.Contains(stderr, "fine-tune 3/3") {
		t.Errorf("progress:\n%s", stderr)
	}
	if !strings.Contains(stdout, "residual coupling") || !strings.Contains(stdout, "finetune epoch 1") {
		t.Errorf("output:\n%s", stdout)
	}
	ratio := float64(inspectMACs(t, out)) / float64(inspectMACs(t, bundledResNet20(t)))
	if math.Abs(ratio-0.5) > 0.001 {
		t.Errorf("inspect: MACs ratio %.5f, want 0.5 ± 0.001", ratio)
	}
	var rep hingeReport
	data, err := os.ReadFile(report)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &rep); err != nil {
		t.Fatal(err)
	}
	if !rep.Result.Met || math.Abs(rep.Result.Ratio-ratio) > 1e-12 || rep.Result.SearchSteps != 3 || rep.Result.FineTuneSteps != 3 {
		t.Errorf("report: %+v", rep.Result)
	}
	svg, err := os.ReadFile(filepath.Join(dir, "hinge.svg"))
	if err != nil {
		t.Fatal(err)
	}
	// The original, one curve point and the compressed model (fine-tuning's
	// epoch 0) before fine-tuning; epoch 1 after.
	if err := xml.Unmarshal(svg, new(struct{})); err != nil || bytes.Count(svg, []byte("<circle")) != 4 {
		t.Errorf("SVG: %v, %d points", err, bytes.Count(svg, []byte("<circle")))
	}
}

// SIGINT during the search still compresses what was learnt and writes the
// model at the target, without fine-tuning; exit 0.
func TestHingeInterruptWritesCompressedModel(t *testing.T) {
	reference.Require(t, reference.FashionMNIST)
	dir := t.TempDir()
	out := filepath.Join(dir, "r20.hinge.onnx")
	text := interruptCLI(t, "search epoch 0:", 500*time.Millisecond, append([]string{"compress", bundledResNet20(t), "-o", out, "--method", "hinge",
		"--train-data", fashionMNIST, "--flops-ratio", "0.6", "--batch", "16", "--threads", "1", "--eval-limit", "100",
		"--curve-points", "1"}, fmnistNorm...)...)
	if !strings.Contains(text, "interrupted") || strings.Contains(text, "fine-tuning by distillation") {
		t.Errorf("output:\n%s", text)
	}
	if r := float64(inspectMACs(t, out)) / float64(inspectMACs(t, bundledResNet20(t))); math.Abs(r-0.6) > 0.001 {
		t.Errorf("MACs ratio %.4f, want 0.6", r)
	}
}

func TestHingeTrainedBadUsageIsExit2(t *testing.T) {
	reference.Require(t, reference.FashionMNIST)
	out := filepath.Join(t.TempDir(), "out.onnx")
	base := []string{"compress", bundledResNet20(t), "-o", out, "--method", "hinge", "--train-data", fashionMNIST}
	wantBadUsage(t, base, [][]string{
		{},                       // no --flops-ratio
		{"--flops-ratio", "1.5"}, // outside (0, 1]
		{"--flops-ratio", "0.5", "--regularizer", "l3"},
	})
}
