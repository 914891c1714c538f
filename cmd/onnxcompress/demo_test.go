package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/onnxcompress/onnxcompress/internal/reference"
)

// A short demo run: compress, fine-tune, evaluate, check in ORT, write the
// models and the HTML diff of each method.
func TestDemoRunsThePipeline(t *testing.T) {
	reference.Require(t, reference.FashionMNIST, reference.ORT)
	dir := t.TempDir()
	stdout, stderr, code := runCLI(t, "demo", "-o", dir, "--methods", "svd,quant", "--steps", "20", "--eval-limit", "300", "-q")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, method := range []string{"svd", "quant"} {
		row := ""
		for _, line := range strings.Split(stdout, "\n") {
			if strings.HasPrefix(line, method+" ") {
				row = line
			}
		}
		if !strings.Contains(row, "yes") {
			t.Errorf("%s row not ORT-checked: %q\n%s", method, row, stdout)
		}
		// Quantized layers fine-tune too (their scales train).
		if strings.Contains(row, "n/a") {
			t.Errorf("%s row was not fine-tuned: %q\n%s", method, row, stdout)
		}
		if _, err := os.Stat(filepath.Join(dir, "lenet5."+method+".onnx")); err != nil {
			t.Error(err)
		}
		page, err := os.ReadFile(filepath.Join(dir, "lenet5."+method+".html"))
		if err != nil {
			t.Error(err)
			continue
		}
		// The diff report of the method's model: a table and charts.
		if !strings.Contains(string(page), `id="changes"`) || !strings.Contains(string(page), "<svg") {
			t.Errorf("%s report has no table or charts", method)
		}
	}
}
