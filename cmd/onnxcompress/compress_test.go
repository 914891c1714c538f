package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/onnxcompress/onnxcompress/graph"
	"github.com/onnxcompress/onnxcompress/internal/reference"
	"github.com/onnxcompress/onnxcompress/onnx"
	"github.com/onnxcompress/onnxcompress/rewrite"
)

func TestCompressIsDeterministic(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.onnx"), filepath.Join(dir, "b.onnx")
	for _, out := range []string{a, b} {
		if _, stderr, code := runCLI(t, "compress", bundledLeNet(t), "-o", out, "--method", "svd", "--ratio", "0.3", "--seed", "4", "-q"); code != 0 {
			t.Fatalf("exit %d: %s", code, stderr)
		}
	}
	da, _ := os.ReadFile(a)
	db, _ := os.ReadFile(b)
	if len(da) == 0 || !bytes.Equal(da, db) {
		t.Fatalf("two runs with the same seed differ (%d vs %d bytes)", len(da), len(db))
	}
}

func TestCompressWritesPlanThatReproducesTheModel(t *testing.T) {
	dir := t.TempDir()
	first, plan, second := filepath.Join(dir, "1.onnx"), filepath.Join(dir, "plan.json"), filepath.Join(dir, "2.onnx")
	if _, stderr, code := runCLI(t, "compress", bundledLeNet(t), "-o", first, "--method", "svd", "--energy", "0.9", "--write-plan", plan, "-q"); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if _, stderr, code := runCLI(t, "compress", bundledLeNet(t), "-o", second, "--plan", plan, "-q"); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	d1, _ := os.ReadFile(first)
	d2, _ := os.ReadFile(second)
	if !bytes.Equal(d1, d2) {
		t.Fatal("compressing with the written plan gives another model")
	}
}

func TestCompressBadRequestsAreExit2AndWriteNothing(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "out.onnx")
	cases := map[string][]string{
		"no target":      {"--method", "svd"},
		"two targets":    {"--method", "svd", "--rank", "2", "--ratio", "0.5"},
		"unknown method": {"--method", "nope", "--ratio", "0.5"},
		"bad ratio":      {"--method", "svd", "--ratio", "1.5"},
		"unknown layer":  {"--method", "svd", "--ratio", "0.5", "--layers", "/no/such/Conv"},
		"rank multiple":  {"--method", "svd", "--ratio", "0.5", "--rank-multiple", "0"},
	}
	for name, args := range cases {
		t.Run(name, func(t *testing.T) {
			_, stderr, code := runCLI(t, append([]string{"compress", bundledLeNet(t), "-o", out}, args...)...)
			if code != exitBadInput {
				t.Fatalf("exit %d, want 2: %s", code, stderr)
			}
			if n := len(strings.Split(strings.TrimSpace(stderr), "\n")); n != 1 {
				t.Fatalf("want a one-line error, got %q", stderr)
			}
			if entries, _ := os.ReadDir(dir); len(entries) != 0 {
				t.Fatalf("a refused run left files: %v", entries)
			}
		})
	}
}

func TestCompressReportsRatioAndErrors(t *testing.T) {
	dir := t.TempDir()
	out, report := filepath.Join(dir, "out.onnx"), filepath.Join(dir, "report.json")
	stdout, stderr, code := runCLI(t, "compress", bundledLeNet(t), "-o", out, "--method", "svd", "--ratio", "0.25", "--report", report)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, want := range []string{"/fc1/Gemm", "selected layers", "output relative L2 error", out} {
		if !strings.Contains(stdout, want) {
			t.Errorf("table lacks %q:\n%s", want, stdout)
		}
	}
	before := inspectJSON(t, bundledLeNet(t))
	after := inspectJSON(t, out)
	if r := float64(after.Params) / float64(before.Params); r > 0.27 {
		t.Errorf("inspect counts %.3f of the parameters after --ratio 0.25", r)
	}
	if _, err := os.Stat(report); err != nil {
		t.Fatal(err)
	}
}

// --sparse writes the pruned weights as sparse_initializer: a smaller file
// that ONNX Runtime reads and computes exactly as the dense one.
func TestCompressSparseStorageIsSmallerAndSameInORT(t *testing.T) {
	reference.Require(t, reference.ORT)
	dir := t.TempDir()
	dense, sparse := filepath.Join(dir, "dense.onnx"), filepath.Join(dir, "sparse.onnx")
	for out, extra := range map[string][]string{dense: nil, sparse: {"--sparse"}} {
		args := append([]string{"compress", bundledLeNet(t), "-o", out, "--method", "sparse", "--ratio", "0.1", "-q"}, extra...)
		if _, stderr, code := runCLI(t, args...); code != 0 {
			t.Fatalf("%v: exit %d: %s", args, code, stderr)
		}
	}
	ds, _ := os.Stat(dense)
	ss, _ := os.Stat(sparse)
	if ss.Size() >= ds.Size()*6/10 {
		t.Errorf("sparse file %d bytes, dense %d: want well under the dense size at 10%% non-zeros", ss.Size(), ds.Size())
	}
	inputs := probeInputs(t, dense, 3)
	results, err := reference.RunORTBatch([]reference.ORTJob{{Model: dense, Inputs: inputs}, {Model: sparse, Inputs: inputs}}, 1)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range results {
		if r.Err != nil {
			t.Fatal(r.Err)
		}
	}
	a, _ := results[0].Outputs["logits"].Float32s()
	b, _ := results[1].Outputs["logits"].Float32s()
	if len(a) == 0 || reference.RelL2(b, a) > 1e-6 {
		t.Errorf("sparse and dense files differ in ORT: rel L2 %g over %d outputs", reference.RelL2(b, a), len(a))
	}
}

// probeInputs is the random probe batch compress and diff draw for the
// model at path with seed, as tensors ONNX Runtime can be fed.
func probeInputs(t *testing.T, path string, seed uint64) map[string]*graph.Tensor {
	t.Helper()
	m, err := onnx.Read(path)
	if err != nil {
		t.Fatal(err)
	}
	shapes, err := graph.ConcreteInputShapes(m.Graph, nil)
	if err != nil {
		t.Fatal(err)
	}
	probe, err := rewrite.RandomProbe(m, shapes, seed)
	if err != nil {
		t.Fatal(err)
	}
	inputs := map[string]*graph.Tensor{}
	for name, rt := range probe {
		if inputs[name], err = rt.ToGraph(name); err != nil {
			t.Fatal(err)
		}
	}
	return inputs
}
