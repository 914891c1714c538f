package testmodels

import (
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"

	"github.com/onnxcompress/onnxcompress/graph"
)

// The bundled model travels inside the binary, so `demo` works from an
// installed executable as well as from a checkout.
var (
	//go:embed fmnist/lenet5.onnx
	bundledLeNet []byte
	//go:embed fmnist/lenet5.json
	bundledLeNetJSON []byte
)

// LeNetInfo is what fmnist/train_lenet.py recorded about the bundled model.
type LeNetInfo struct {
	Architecture string
	Dataset      string
	Classes      []string
	// TestAccuracy is top-1 on all TestImages Fashion-MNIST test images,
	// computed by the PyTorch model before export.
	TestAccuracy float64
	TestImages   int
	// Inputs are (pixel*Scale - Mean) / Std with pixels in 0..255.
	Scale, Mean, Std float32
	InputName        string
	InputShape       graph.Shape
	OutputName       string
	OutputShape      graph.Shape
	Opset            int64
	Epochs           int
	Seed             int64
	TorchVersion     string
}

type tensorJSON struct {
	Name  string            `json:"name"`
	Shape []json.RawMessage `json:"shape"`
	DType string            `json:"dtype"`
}

type lenetJSON struct {
	Architecture  string   `json:"architecture"`
	Dataset       string   `json:"dataset"`
	Classes       []string `json:"classes"`
	TestAccuracy  float64  `json:"test_accuracy"`
	TestImages    int      `json:"test_images"`
	Normalization struct {
		Scale float32 `json:"scale"`
		Mean  float32 `json:"mean"`
		Std   float32 `json:"std"`
	} `json:"normalization"`
	Input        tensorJSON `json:"input"`
	Output       tensorJSON `json:"output"`
	Opset        int64      `json:"opset"`
	Epochs       int        `json:"epochs"`
	Seed         int64      `json:"seed"`
	TorchVersion string     `json:"torch_version"`
}

// shape decodes a JSON shape whose entries are sizes or symbolic names.
func (t tensorJSON) shape() (graph.Shape, error) {
	s := make(graph.Shape, len(t.Shape))
	for i, raw := range t.Shape {
		if json.Unmarshal(raw, &s[i].Value) == nil {
			continue
		}
		if err := json.Unmarshal(raw, &s[i].Param); err != nil {
			return nil, fmt.Errorf("%s: dimension %d is %s, neither a size nor a name", t.Name, i, raw)
		}
	}
	return s, nil
}

// BundledLeNetInfo decodes fmnist/lenet5.json.
func BundledLeNetInfo() (LeNetInfo, error) {
	var j lenetJSON
	if err := json.Unmarshal(bundledLeNetJSON, &j); err != nil {
		return LeNetInfo{}, fmt.Errorf("testmodels/fmnist/lenet5.json: %w", err)
	}
	info := LeNetInfo{
		Architecture: j.Architecture, Dataset: j.Dataset, Classes: j.Classes,
		TestAccuracy: j.TestAccuracy, TestImages: j.TestImages,
		Scale: j.Normalization.Scale, Mean: j.Normalization.Mean, Std: j.Normalization.Std,
		InputName: j.Input.Name, OutputName: j.Output.Name,
		Opset: j.Opset, Epochs: j.Epochs, Seed: j.Seed, TorchVersion: j.TorchVersion,
	}
	var err error
	if info.InputShape, err = j.Input.shape(); err != nil {
		return LeNetInfo{}, fmt.Errorf("testmodels/fmnist/lenet5.json: input %w", err)
	}
	if info.OutputShape, err = j.Output.shape(); err != nil {
		return LeNetInfo{}, fmt.Errorf("testmodels/fmnist/lenet5.json: output %w", err)
	}
	if info.Std == 0 || info.Scale == 0 {
		return LeNetInfo{}, fmt.Errorf("testmodels/fmnist/lenet5.json: normalisation scale %v std %v", info.Scale, info.Std)
	}
	return info, nil
}

// BundledLeNetONNX is the bundled model file's content.
func BundledLeNetONNX() []byte { return bundledLeNet }

// BundledLeNetPath is a path to the bundled LeNet-5 ONNX file: the committed
// file when this package's sources are present (a checkout), otherwise a
// copy extracted once into the user's cache folder.
func BundledLeNetPath() (string, error) {
	if _, src, _, ok := runtime.Caller(0); ok {
		p := filepath.Join(filepath.Dir(src), "fmnist", "lenet5.onnx")
		if data, err := os.ReadFile(p); err == nil && string(data) == string(bundledLeNet) {
			return p, nil
		}
	}
	dir, err := os.UserCacheDir()
	if err != nil {
		dir = os.TempDir()
	}
	sum := sha256.Sum256(bundledLeNet)
	p := filepath.Join(dir, "onnxcompress", "lenet5-"+hex.EncodeToString(sum[:8])+".onnx")
	if data, err := os.ReadFile(p); err == nil && string(data) == string(bundledLeNet) {
		return p, nil
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return "", fmt.Errorf("extract bundled LeNet-5: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(p), "lenet5-*.tmp")
	if err != nil {
		return "", fmt.Errorf("extract bundled LeNet-5: %w", err)
	}
	_, werr := tmp.Write(bundledLeNet)
	cerr := tmp.Close()
	if werr == nil {
		werr = cerr
	}
	if werr == nil {
		werr = os.Rename(tmp.Name(), p)
	}
	if werr != nil {
		os.Remove(tmp.Name())
		return "", fmt.Errorf("extract bundled LeNet-5 to %s: %w", p, werr)
	}
	return p, nil
}
