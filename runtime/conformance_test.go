package runtime

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/onnxcompress/onnxcompress/graph"
	"github.com/onnxcompress/onnxcompress/onnx"
)

// The ONNX backend node tests: every test whose ops the runtime supports
// must reproduce the reference outputs, except the known failures listed,
// with reasons, in docs/ops.md. -update-ops regenerates docs/ops.md.

var updateOps = flag.Bool("update-ops", false, "rewrite docs/ops.md from the conformance results")

const (
	nodeTestDir = "/usr/share/libonnx-testdata/data/node"
	opsDoc      = "../docs/ops.md"
	// numpy.testing.assert_allclose tolerances of onnx's backend test runner.
	conformanceRtol = 1e-3
	conformanceAtol = 1e-7
)

type conformanceResult struct {
	name   string
	ops    []string
	status string // pass, fail, unsupported, rejected
	reason string
}

func TestConformance(t *testing.T) {
	entries, err := os.ReadDir(nodeTestDir)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI: ONNX backend test data missing: %v", err)
		}
		t.Skipf("ONNX backend test data missing: %v", err)
	}
	var results []conformanceResult
	for _, e := range entries {
		if e.IsDir() {
			results = append(results, runNodeTest(filepath.Join(nodeTestDir, e.Name())))
		}
	}
	sort.Slice(results, func(i, j int) bool { return results[i].name < results[j].name })
	if *updateOps {
		if err := os.WriteFile(opsDoc, []byte(renderOpsDoc(results)), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	passing, known, err := readOpsDoc(opsDoc)
	if err != nil {
		t.Fatalf("%v (generate it with go test ./runtime -run TestConformance -update-ops)", err)
	}
	npass := 0
	for _, r := range results {
		switch {
		case r.status == "pass":
			npass++
		case passing[r.name]:
			t.Errorf("%s regressed (listed as passing in docs/ops.md): %s", r.name, r.reason)
		case r.status == "fail" && !known[r.name]:
			t.Errorf("%s: all ops supported but fails: %s", r.name, r.reason)
		}
	}
	t.Logf("%d of %d node tests pass", npass, len(results))
}

func runNodeTest(dir string) conformanceResult {
	r := conformanceResult{name: filepath.Base(dir)}
	m, err := onnx.Read(filepath.Join(dir, "model.onnx"))
	if err != nil {
		r.status, r.reason = "rejected", "read: "+err.Error()
		return r
	}
	seen := map[string]bool{}
	var missing []string
	for _, n := range m.Graph.Nodes {
		if !seen[n.OpType] {
			seen[n.OpType] = true
			r.ops = append(r.ops, n.OpType)
			if !Supports(n) {
				missing = append(missing, n.OpType)
			}
		}
	}
	sort.Strings(r.ops)
	if len(missing) > 0 {
		r.status, r.reason = "unsupported", strings.Join(missing, ", ")
		return r
	}
	s, err := NewSession(m, Options{Threads: 1})
	if err != nil {
		r.status, r.reason = "rejected", err.Error()
		return r
	}
	r.status = "fail"
	inputs := map[string]*Tensor{}
	k := 0
	for _, v := range m.Graph.Inputs {
		if v.IsConst() {
			continue
		}
		g, err := readTensorFile(filepath.Join(dir, "test_data_set_0", fmt.Sprintf("input_%d.pb", k)))
		k++
		if err != nil {
			r.reason = err.Error()
			return r
		}
		in, err := FromGraph(g)
		if err != nil || in.DType != v.Type.Elem {
			r.status, r.reason = "rejected", fmt.Sprintf("input %s of dtype %s", v.Name, g.DType)
			return r
		}
		inputs[v.Name] = in
	}
	outs, err := s.Run(inputs)
	if err != nil {
		r.reason = err.Error()
		if errors.Is(err, ErrUnsupported) {
			r.status = "rejected"
		}
		return r
	}
	for i, v := range m.Graph.Outputs {
		g, err := readTensorFile(filepath.Join(dir, "test_data_set_0", fmt.Sprintf("output_%d.pb", i)))
		if err != nil {
			r.reason = err.Error()
			return r
		}
		if !supportedDType(g.DType) {
			r.status, r.reason = "rejected", fmt.Sprintf("output %s of dtype %s", v.Name, g.DType)
			return r
		}
		want, err := FromGraph(g)
		if err != nil {
			r.reason = err.Error()
			return r
		}
		if msg := compareTensors(outs[v.Name], want); msg != "" {
			r.reason = fmt.Sprintf("output %s: %s", v.Name, msg)
			return r
		}
	}
	r.status = "pass"
	return r
}

// compareTensors is numpy.testing.assert_allclose with NaN equal to NaN.
func compareTensors(got, want *Tensor) string {
	if got == nil {
		return "missing"
	}
	if got.DType != want.DType || !sameShape(got.Shape, want.Shape) {
		return fmt.Sprintf("got %s%v, want %s%v", got.DType, got.Shape, want.DType, want.Shape)
	}
	for i := 0; i < want.Len(); i++ {
		g, w := got.at(i), want.at(i)
		if math.IsNaN(w) && math.IsNaN(g) || g == w {
			continue
		}
		if math.IsNaN(g) || math.IsNaN(w) || math.Abs(g-w) > conformanceAtol+conformanceRtol*math.Abs(w) {
			return fmt.Sprintf("element %d = %v, want %v", i, g, w)
		}
	}
	return ""
}

func renderOpsDoc(results []conformanceResult) string {
	type count struct{ pass, total int }
	perOp := map[string]*count{}
	for _, r := range results {
		for _, op := range r.ops {
			if perOp[op] == nil {
				perOp[op] = &count{}
			}
			perOp[op].total++
			if r.status == "pass" {
				perOp[op].pass++
			}
		}
	}
	var b strings.Builder
	b.WriteString("# Runtime operator coverage\n\n")
	b.WriteString("Generated by `go test ./runtime -run TestConformance -update-ops` from the ONNX backend node tests\n")
	b.WriteString("(`" + nodeTestDir + "`, tolerance rtol 1e-3, atol 1e-7). Do not edit by hand.\n")
	b.WriteString("A test counts for every op its model uses; tests of unsupported ops or dtypes count as not passed.\n\n")
	npass := 0
	for _, r := range results {
		if r.status == "pass" {
			npass++
		}
	}
	fmt.Fprintf(&b, "%d of %d node tests pass. Supported ops: %s.\n\n", npass, len(results), strings.Join(SupportedOps(), ", "))
	b.WriteString("| op | supported | tests passed / total |\n|---|---|---|\n")
	ops := make([]string, 0, len(perOp))
	for op := range perOp {
		ops = append(ops, op)
	}
	sort.Strings(ops)
	for _, op := range ops {
		_, ok := forwardKernels[op]
		sup := "no"
		if ok {
			sup = "yes"
		}
		fmt.Fprintf(&b, "| %s | %s | %d / %d |\n", op, sup, perOp[op].pass, perOp[op].total)
	}
	b.WriteString("\n## Known failures (all ops supported)\n\n")
	for _, r := range results {
		if r.status == "fail" {
			fmt.Fprintf(&b, "- fail %s: %s\n", r.name, oneLine(r.reason))
		}
	}
	b.WriteString("\n## Rejected (a dtype or feature the runtime does not compute in)\n\n")
	for _, r := range results {
		if r.status == "rejected" {
			fmt.Fprintf(&b, "- rejected %s: %s\n", r.name, oneLine(r.reason))
		}
	}
	b.WriteString("\n## Passing tests\n\n")
	for _, r := range results {
		if r.status == "pass" {
			fmt.Fprintf(&b, "- pass %s\n", r.name)
		}
	}
	return b.String()
}

func oneLine(s string) string {
	s = strings.ReplaceAll(s, "\n", " ")
	if len(s) > 160 {
		s = s[:160] + "…"
	}
	return s
}

// readOpsDoc returns the tests docs/ops.md lists as passing and as known failures.
func readOpsDoc(path string) (passing, known map[string]bool, err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	passing, known = map[string]bool{}, map[string]bool{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if name, ok := strings.CutPrefix(line, "- pass "); ok {
			passing[strings.TrimSpace(name)] = true
		}
		if rest, ok := strings.CutPrefix(line, "- fail "); ok {
			name, _, _ := strings.Cut(rest, ":")
			known[name] = true
		}
	}
	return passing, known, sc.Err()
}

var _ = graph.Float32
