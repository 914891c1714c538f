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
		for _, ext := range []string{".onnx", ".html"} {
			if _, err := os.Stat(filepath.Join(dir, "lenet5."+method+ext)); err != nil {
				t.Error(err)
			}
		}
	}
}
