package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/onnxcompress/onnxcompress/internal/reference"
)

func inspectJSON(t *testing.T, args ...string) inspectReport {
	t.Helper()
	stdout, stderr, code := runCLI(t, append([]string{"inspect", "--json"}, args...)...)
	if code != 0 {
		t.Fatalf("inspect %v: exit %d: %s", args, code, stderr)
	}
	var rep inspectReport
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatalf("inspect --json output: %v\n%s", err, stdout)
	}
	return rep
}

func checkLayersSumToTotals(t *testing.T, rep inspectReport) {
	t.Helper()
	var params, macs int64
	for _, l := range rep.Layers {
		params += l.Params
		macs += l.MACs
	}
	if params != rep.Params || macs != rep.MACs {
		t.Fatalf("layers sum to %d params / %d MACs, totals say %d / %d", params, macs, rep.Params, rep.MACs)
	}
}

// The torchvision exporter folds BatchNorm into the convs and stores
// identical biases once behind Identity nodes; inspect must still count every
// layer's weight and bias, and the MACs of the whole network.
func TestInspectTorchvisionResNet18(t *testing.T) {
	reference.Require(t, reference.Torch)
	path, err := reference.ExportTorchvision(t.TempDir(), "resnet18")
	if err != nil {
		t.Fatal(err)
	}
	rep := inspectJSON(t, path, "--shape", "1,3,224,224")
	checkLayersSumToTotals(t, rep)
	if rep.Params != 11_684_712 {
		t.Errorf("params %d, want 11,684,712", rep.Params)
	}
	if rep.UniqueParams != 11_680_872 {
		t.Errorf("unique params %d, want 11,680,872", rep.UniqueParams)
	}
	if rep.MACs != 1_814_073_344 {
		t.Errorf("MACs %d, want 1,814,073,344", rep.MACs)
	}
	if len(rep.Layers) != 21 { // 20 convs (incl. 3 downsample) + FC
		t.Errorf("%d layers, want 21", len(rep.Layers))
	}
	if rep.Opsets["ai.onnx"] != 13 {
		t.Errorf("opsets %v", rep.Opsets)
	}
}

func TestInspectBundledLeNetTable(t *testing.T) {
	stdout, stderr, code := runCLI(t, "inspect", bundledLeNet(t))
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, want := range []string{"/conv1/Conv", "/fc3/Gemm", "total", "61706"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("table lacks %q:\n%s", want, stdout)
		}
	}
	rep := inspectJSON(t, bundledLeNet(t), "--shape", "input=4,1,28,28")
	checkLayersSumToTotals(t, rep)
	// LeNet-5 on 28×28 with a padded first conv: every MAC by hand.
	want := int64(6*28*28*25 + 16*10*10*6*25 + 400*120 + 120*84 + 84*10)
	if rep.MACs != 4*want {
		t.Errorf("MACs at batch 4: %d, want %d", rep.MACs, 4*want)
	}
}

func TestInspectRejectsUnknownInputName(t *testing.T) {
	_, stderr, code := runCLI(t, "inspect", bundledLeNet(t), "--shape", "nope=1,1,28,28")
	if code != exitBadInput || !strings.Contains(stderr, "nope") {
		t.Fatalf("exit %d stderr %q", code, stderr)
	}
}
