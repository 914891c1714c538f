package main

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/onnxcompress/onnxcompress"
	"github.com/onnxcompress/onnxcompress/internal/reference"
)

// compress --method lcs trains with progress on stderr, writes the
// subspace, a report with one curve point per level and its SVG; lcs-export
// writes one model per level and the adaptive graph.
func TestLCSCompressAndExport(t *testing.T) {
	reference.Require(t, reference.FashionMNIST)
	dir := t.TempDir()
	sub, report := filepath.Join(dir, "lenet.lcs.onnx"), filepath.Join(dir, "lcs.json")
	stdout, stderr, code := runCLI(t, append([]string{"compress", bundledLeNet(t), "-o", sub, "--method", "lcs",
		"--mode", "unstructured", "--subspace", "line", "--data", fashionMNIST, "--max-steps", "8", "--threads", "1",
		"--eval-limit", "200", "--levels", "0.1,0.5,1", "--report", report}, fmnistNorm...)...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(stderr, "lcs 8/8") || !strings.Contains(stdout, "epoch 1: step 8") {
		t.Errorf("progress:\n%s\nresults:\n%s", stderr, stdout)
	}
	var rep lcsReport
	data, err := os.ReadFile(report)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &rep); err != nil {
		t.Fatal(err)
	}
	if len(rep.Curve) != 3 || rep.Steps != 8 || rep.Original == nil || len(rep.Epochs) != 2 {
		t.Fatalf("report: %d curve points, %d steps, %d epochs", len(rep.Curve), rep.Steps, len(rep.Epochs))
	}
	for i, p := range rep.Curve {
		if i > 0 && !(p.Size.NonZero > rep.Curve[i-1].Size.NonZero) {
			t.Errorf("level %g stores %d non-zeros, level %g %d", p.Level, p.Size.NonZero, rep.Curve[i-1].Level, rep.Curve[i-1].Size.NonZero)
		}
	}
	svg, err := os.ReadFile(filepath.Join(dir, "lcs.svg"))
	if err != nil {
		t.Fatal(err)
	}
	if err := xml.Unmarshal(svg, new(struct{})); err != nil || bytes.Count(svg, []byte("<circle")) != 3 {
		t.Errorf("SVG: %v, %d points", err, bytes.Count(svg, []byte("<circle")))
	}
	family, adaptive := filepath.Join(dir, "family"), filepath.Join(dir, "adaptive.onnx")
	stdout, stderr, code = runCLI(t, "lcs-export", sub, "-o", family, "--levels", "0.25,1", "--adaptive", adaptive, "--json")
	if code != 0 {
		t.Fatalf("lcs-export: exit %d: %s", code, stderr)
	}
	var members []lcsMember
	if err := json.Unmarshal([]byte(stdout), &members); err != nil || len(members) != 2 {
		t.Fatalf("lcs-export --json: %v\n%s", err, stdout)
	}
	for _, m := range members {
		if _, err := onnxcompress.Load(m.Path); err != nil {
			t.Error(err)
		}
	}
	if members[0].NonZero >= members[1].NonZero {
		t.Errorf("keep 0.25 stores %d non-zeros, keep 1 %d", members[0].NonZero, members[1].NonZero)
	}
	if _, err := os.Stat(adaptive); err != nil {
		t.Error(err)
	}
	// --sparse: the keep-0.25 member is smaller on disk and computes the same.
	sparse := filepath.Join(dir, "sparse")
	if _, stderr, code := runCLI(t, "lcs-export", sub, "-o", sparse, "--levels", "0.25", "--sparse", "--quiet"); code != 0 {
		t.Fatalf("lcs-export --sparse: exit %d: %s", code, stderr)
	}
	dense, _ := os.Stat(members[0].Path)
	small, err := os.Stat(filepath.Join(sparse, filepath.Base(members[0].Path)))
	if err != nil {
		t.Fatal(err)
	}
	if small.Size() >= dense.Size() {
		t.Errorf("sparse member %d bytes, dense %d", small.Size(), dense.Size())
	}
	if a, b := testAccuracy(t, members[0].Path), testAccuracy(t, filepath.Join(sparse, filepath.Base(members[0].Path))); a != b {
		t.Errorf("sparse member scores %g, dense %g", b, a)
	}
}

// SIGINT stops LCS training cleanly: exit 0 and the best subspace so far
// written, which lcs-export accepts.
func TestLCSInterruptKeepsSubspace(t *testing.T) {
	reference.Require(t, reference.FashionMNIST)
	dir := t.TempDir()
	sub := filepath.Join(dir, "lenet.lcs.onnx")
	out := interruptCLI(t, "epoch 0:", 200*time.Millisecond, append([]string{"compress", bundledLeNet(t), "-o", sub, "--method", "lcs",
		"--data", fashionMNIST, "--epochs", "5", "--threads", "1", "--eval-limit", "300"}, fmnistNorm...)...)
	if !strings.Contains(out, "interrupted after") {
		t.Errorf("output does not say it was interrupted:\n%s", out)
	}
	if _, stderr, code := runCLI(t, "lcs-export", sub, "-o", filepath.Join(dir, "family"), "--levels", "0.5", "--quiet"); code != 0 {
		t.Errorf("lcs-export of the interrupted subspace: exit %d: %s", code, stderr)
	}
}

func TestLCSBadUsageIsExit2(t *testing.T) {
	reference.Require(t, reference.FashionMNIST)
	dir := t.TempDir()
	out := filepath.Join(dir, "out.onnx")
	base := []string{"compress", bundledLeNet(t), "-o", out, "--method", "lcs"}
	wantBadUsage(t, base, [][]string{
		{}, // no --data
		{"--data", fashionMNIST, "--mode", "diagonal"},
		{"--data", fashionMNIST, "--subspace", "plane"},
		{"--data", fashionMNIST, "--norm", "layer"},
		{"--data", fashionMNIST, "--levels", "0.5,x"},
		{"--data", fashionMNIST, "--mode", "quantized", "--levels", "4.5"},
	})
	if _, err := os.Stat(out); err == nil {
		t.Error("an output was written")
	}
	if _, stderr, code := runCLI(t, "lcs-export", bundledLeNet(t), "-o", dir); code != exitBadInput {
		t.Errorf("lcs-export of a plain model: exit %d (%s)", code, stderr)
	}
}
