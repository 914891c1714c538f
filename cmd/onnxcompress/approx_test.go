package main

import (
	"encoding/json"
	"math"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/onnxcompress/onnxcompress/finetune/dataset"
	"github.com/onnxcompress/onnxcompress/graph"
	"github.com/onnxcompress/onnxcompress/internal/reference"
)

// The paper's [512, 4608] chain (debut.md §1.3): 75,776 parameters, LC 96.79%.
func TestChainReportsThePapersFigures(t *testing.T) {
	stdout, stderr, code := runCLI(t, "chain", "--json",
		"--sup", "512 1024 1024 2048 2048 4096 4096 4096 4096 4096 4096 4096 4096 4608",
		"--sub", "2 4 256  2 4 128  2 4 64  2 2 32  2 2 16  2 2 8  8 9 1")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var info struct {
		Rows, Cols, Params int
		LC                 float64
		Dense, Canonical   bool
	}
	if err := json.Unmarshal([]byte(stdout), &info); err != nil {
		t.Fatal(err)
	}
	if info.Rows != 512 || info.Cols != 4608 || info.Params != 75776 || math.Abs(info.LC-0.9679) > 5e-5 || !info.Dense || !info.Canonical {
		t.Fatalf("chain info %+v", info)
	}
}

func TestChainRefusesMismatchedFactors(t *testing.T) {
	_, _, code := runCLI(t, "chain", "--sup", "4 4 6 6", "--sub", "2 2 1 2 2 1")
	if code != exitBadInput {
		t.Fatalf("exit %d for a chain whose sizes do not meet, want 2", code)
	}
}

// approx --method svd reaches the Eckart–Young error computed by numpy.
func TestApproxSVDMatchesNumpyEckartYoung(t *testing.T) {
	reference.Require(t, reference.Checker) // /usr/bin/python3 with numpy comes with python3-onnx
	dir := t.TempDir()
	in := filepath.Join(dir, "w.npy")
	data := make([]float64, 40*70)
	for i := range data {
		data[i] = math.Sin(float64(i)*0.37) + 0.1*math.Cos(float64(i*i)*0.011)
	}
	if err := dataset.WriteNPY(in, graph.NewFloat64Tensor("w", []int64{40, 70}, data)); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(reference.Python, "-c", `import numpy as np, sys
s = np.linalg.svd(np.load(sys.argv[1]), compute_uv=False)
print(np.sqrt((s[5:]**2).sum() / (s**2).sum()))`, in).Output()
	if err != nil {
		t.Fatal(err)
	}
	want, err := strconv.ParseFloat(strings.TrimSpace(string(out)), 64)
	if err != nil {
		t.Fatal(err)
	}
	factors := filepath.Join(dir, "f.npz")
	stdout, stderr, code := runCLI(t, "approx", "--matrix", in, "--method", "svd", "--rank", "5", "-o", factors, "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var res struct {
		RelError float64 `json:"rel_error"`
		Params   int     `json:"params"`
	}
	if err := json.Unmarshal([]byte(stdout), &res); err != nil {
		t.Fatal(err)
	}
	if math.Abs(res.RelError-want) > 1e-10*math.Max(1, want) || res.Params != 5*(40+70) {
		t.Fatalf("error %.12g params %d; numpy's optimum %.12g", res.RelError, res.Params, want)
	}
	ts, err := dataset.ReadNPZ(factors)
	if err != nil || len(ts) != 2 {
		t.Fatalf("factors file: %v (%d arrays)", err, len(ts))
	}
}

func TestApproxBadRequestsAreExit2(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "w.npy")
	if err := dataset.WriteNPY(in, graph.NewFloat64Tensor("w", []int64{4, 6}, make([]float64, 24))); err != nil {
		t.Fatal(err)
	}
	for name, args := range map[string][]string{
		"zero matrix":    {"--method", "svd", "--rank", "2"},
		"unknown method": {"--method", "nope", "--rank", "2"},
		"no rank":        {"--method", "svd"},
	} {
		if _, _, code := runCLI(t, append([]string{"approx", "--matrix", in}, args...)...); code != exitBadInput {
			t.Errorf("%s: exit %d, want 2", name, code)
		}
	}
}
