package testmodels

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/onnxcompress/onnxcompress/graph"
	"github.com/onnxcompress/onnxcompress/internal/reference"
	"github.com/onnxcompress/onnxcompress/onnx"
)

func TestBundledLeNetInfo(t *testing.T) {
	info, err := BundledLeNetInfo()
	if err != nil {
		t.Fatal(err)
	}
	if info.TestAccuracy < 0.89 || info.TestAccuracy > 1 || info.TestImages != 10000 {
		t.Errorf("recorded accuracy %v on %d images", info.TestAccuracy, info.TestImages)
	}
	if info.Mean != 0.2860 || info.Std != 0.3530 || math.Abs(float64(info.Scale)-1.0/255) > 1e-9 {
		t.Errorf("normalisation scale %v mean %v std %v", info.Scale, info.Mean, info.Std)
	}
	if len(info.Classes) != 10 || info.Opset != 13 || info.TorchVersion == "" {
		t.Errorf("classes %v opset %d torch %q", info.Classes, info.Opset, info.TorchVersion)
	}
	// The metadata must describe the model file it travels with.
	path, err := BundledLeNetPath()
	if err != nil {
		t.Fatal(err)
	}
	m, err := onnx.Read(path)
	if err != nil {
		t.Fatal(err)
	}
	in, out := m.Graph.Inputs[0], m.Graph.Outputs[0]
	if in.Name != info.InputName || in.Type.Shape.String() != info.InputShape.String() {
		t.Errorf("model input %s %v, metadata %s %v", in.Name, in.Type.Shape, info.InputName, info.InputShape)
	}
	if out.Name != info.OutputName || out.Type.Shape.String() != info.OutputShape.String() {
		t.Errorf("model output %s %v, metadata %s %v", out.Name, out.Type.Shape, info.OutputName, info.OutputShape)
	}
	if m.OpsetVersion("") != info.Opset {
		t.Errorf("model opset %d, metadata %d", m.OpsetVersion(""), info.Opset)
	}
}

func TestBundledLeNetPathIsTheEmbeddedFile(t *testing.T) {
	path, err := BundledLeNetPath()
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(data, BundledLeNetONNX()) || len(data) == 0 {
		t.Errorf("%s differs from the embedded model", path)
	}
}

func TestBundledLeNetPassesChecker(t *testing.T) {
	reference.Require(t, reference.Checker)
	path, err := BundledLeNetPath()
	if err != nil {
		t.Fatal(err)
	}
	if err := reference.CheckModel(path); err != nil {
		t.Fatal(err)
	}
}

// readIDX reads a gzipped IDX file of unsigned bytes: its dims and data.
func readIDX(t *testing.T, path string) ([]int64, []byte) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	z, err := gzip.NewReader(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	data, err := io.ReadAll(z)
	if err != nil || len(data) < 4 || data[2] != 0x08 {
		t.Fatalf("%s: not an unsigned-byte IDX file (%v)", path, err)
	}
	ndim := int(data[3])
	dims := make([]int64, ndim)
	for i := range dims {
		dims[i] = int64(binary.BigEndian.Uint32(data[4+4*i:]))
	}
	body := data[4+4*ndim:]
	if n, _ := graph.NumElements(dims); int64(len(body)) != n {
		t.Fatalf("%s: %d bytes for dims %v", path, len(body), dims)
	}
	return dims, body
}

// TestBundledLeNetAccuracyInORT re-measures the recorded accuracy in ONNX
// Runtime with the recorded normalisation: it checks the export, the
// normalisation and the number together.
func TestBundledLeNetAccuracyInORT(t *testing.T) {
	reference.Require(t, reference.ORT, reference.FashionMNIST)
	info, err := BundledLeNetInfo()
	if err != nil {
		t.Fatal(err)
	}
	dims, pixels := readIDX(t, filepath.Join(reference.FashionMNISTDir, "t10k-images-idx3-ubyte.gz"))
	_, labels := readIDX(t, filepath.Join(reference.FashionMNISTDir, "t10k-labels-idx1-ubyte.gz"))
	x := make([]float32, len(pixels))
	for i, p := range pixels {
		x[i] = (float32(p)*info.Scale - info.Mean) / info.Std
	}
	path, err := BundledLeNetPath()
	if err != nil {
		t.Fatal(err)
	}
	images := dims[0]
	outs, err := reference.RunORT(path, map[string]*graph.Tensor{
		info.InputName: graph.NewFloat32("", []int64{images, 1, dims[1], dims[2]}, x),
	}, 1)
	if err != nil {
		t.Fatal(err)
	}
	logits := outs[info.OutputName]
	if logits == nil || !slices.Equal(logits.Dims, []int64{images, 10}) {
		t.Fatalf("output %q: %v", info.OutputName, logits)
	}
	vals, err := logits.Float32s()
	if err != nil {
		t.Fatal(err)
	}
	correct := 0
	for i := range images {
		row := vals[10*i : 10*i+10]
		for _, v := range row {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				t.Fatalf("image %d: logit %v", i, v)
			}
		}
		if int(labels[i]) == argmax(row) {
			correct++
		}
	}
	acc := float64(correct) / float64(images)
	t.Logf("ONNX Runtime top-1 %.4f, recorded (PyTorch) %.4f", acc, info.TestAccuracy)
	// Float summation order differs between the two runtimes; allow a few
	// near-tie images (5 of 10,000) to flip.
	if math.Abs(acc-info.TestAccuracy) > 5.0/float64(images) {
		t.Errorf("ONNX Runtime accuracy %.4f, recorded %.4f", acc, info.TestAccuracy)
	}
}

func argmax(v []float32) int {
	best := 0
	for i := range v {
		if v[i] > v[best] {
			best = i
		}
	}
	return best
}
