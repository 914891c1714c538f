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

// The bundled models travel inside the binary, so `demo` works from an
// installed executable as well as from a checkout.
var (
	//go:embed fmnist/lenet5.onnx
	bundledLeNet []byte
	//go:embed fmnist/lenet5.json
	bundledLeNetJSON []byte
	//go:embed fmnist/resnet20.onnx
	bundledResNet20 []byte
	//go:embed fmnist/resnet20.json
	bundledResNet20JSON []byte
)

// Bundled is a trained model committed with this package, with the record
// its training script wrote.
type Bundled struct {
	name       string // file name without .onnx, under fmnist/
	onnx, json []byte
}

// The bundled Fashion-MNIST models, made by fmnist/train_lenet.py and
// fmnist/train_resnet20.py.
var (
	LeNet5FMNIST   = Bundled{"lenet5", bundledLeNet, bundledLeNetJSON}
	ResNet20FMNIST = Bundled{"resnet20", bundledResNet20, bundledResNet20JSON}
)

// BundledInfo is what a training script recorded about a bundled model.
type BundledInfo struct {
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

// LeNetInfo is the bundled LeNet-5's record (the name predates the second
// bundled model).
type LeNetInfo = BundledInfo

type tensorJSON struct {
	Name  string            `json:"name"`
	Shape []json.RawMessage `json:"shape"`
	DType string            `json:"dtype"`
}

type recordJSON struct {
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

// Info decodes the model's record (fmnist/NAME.json).
func (b Bundled) Info() (BundledInfo, error) {
	where := "testmodels/fmnist/" + b.name + ".json"
	var j recordJSON
	if err := json.Unmarshal(b.json, &j); err != nil {
		return BundledInfo{}, fmt.Errorf("%s: %w", where, err)
	}
	info := BundledInfo{
		Architecture: j.Architecture, Dataset: j.Dataset, Classes: j.Classes,
		TestAccuracy: j.TestAccuracy, TestImages: j.TestImages,
		Scale: j.Normalization.Scale, Mean: j.Normalization.Mean, Std: j.Normalization.Std,
		InputName: j.Input.Name, OutputName: j.Output.Name,
		Opset: j.Opset, Epochs: j.Epochs, Seed: j.Seed, TorchVersion: j.TorchVersion,
	}
	var err error
	if info.InputShape, err = j.Input.shape(); err != nil {
		return BundledInfo{}, fmt.Errorf("%s: input %w", where, err)
	}
	if info.OutputShape, err = j.Output.shape(); err != nil {
		return BundledInfo{}, fmt.Errorf("%s: output %w", where, err)
	}
	if info.Std == 0 || info.Scale == 0 {
		return BundledInfo{}, fmt.Errorf("%s: normalisation scale %v std %v", where, info.Scale, info.Std)
	}
	return info, nil
}

// ONNX is the model file's content.
func (b Bundled) ONNX() []byte { return b.onnx }

// Path is a path to the model file: the committed file when this package's
// sources are present (a checkout), otherwise a copy extracted once into
// the user's cache folder.
func (b Bundled) Path() (string, error) {
	if _, src, _, ok := runtime.Caller(0); ok {
		p := filepath.Join(filepath.Dir(src), "fmnist", b.name+".onnx")
		if data, err := os.ReadFile(p); err == nil && string(data) == string(b.onnx) {
			return p, nil
		}
	}
	dir, err := os.UserCacheDir()
	if err != nil {
		dir = os.TempDir()
	}
	sum := sha256.Sum256(b.onnx)
	p := filepath.Join(dir, "onnxcompress", b.name+"-"+hex.EncodeToString(sum[:8])+".onnx")
	if data, err := os.ReadFile(p); err == nil && string(data) == string(b.onnx) {
		return p, nil
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return "", fmt.Errorf("extract bundled %s: %w", b.name, err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(p), b.name+"-*.tmp")
	if err != nil {
		return "", fmt.Errorf("extract bundled %s: %w", b.name, err)
	}
	_, werr := tmp.Write(b.onnx)
	cerr := tmp.Close()
	if werr == nil {
		werr = cerr
	}
	if werr == nil {
		werr = os.Rename(tmp.Name(), p)
	}
	if werr != nil {
		os.Remove(tmp.Name())
		return "", fmt.Errorf("extract bundled %s to %s: %w", b.name, p, werr)
	}
	return p, nil
}

// BundledLeNetInfo decodes fmnist/lenet5.json.
func BundledLeNetInfo() (LeNetInfo, error) { return LeNet5FMNIST.Info() }

// BundledLeNetONNX is the bundled LeNet-5 file's content.
func BundledLeNetONNX() []byte { return LeNet5FMNIST.ONNX() }

// BundledLeNetPath is a path to the bundled LeNet-5 file (see Bundled.Path).
func BundledLeNetPath() (string, error) { return LeNet5FMNIST.Path() }
