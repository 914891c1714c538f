package dataset

import (
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/onnxcompress/onnxcompress/graph"
)

// TestBatchNormalises checks x' = (x·scale − mean[c]) / std[c] against the
// formula in float64, for uint8 and float sources, default and given scale.
func TestBatchNormalises(t *testing.T) {
	const n, c, h, w = 3, 3, 2, 2
	raw := make([]byte, n*c*h*w)
	floats := make([]float32, len(raw))
	for i := range raw {
		raw[i] = byte(i * 23 % 256)
		floats[i] = float32(i)*0.37 - 4
	}
	u8 := &graph.Tensor{Name: "u8", DType: graph.Uint8, Dims: []int64{n, c, h, w}, Raw: raw}
	f32 := graph.NewFloat32("f32", []int64{n, c, h, w}, floats)
	mean := []float32{0.485, 0.456, 0.406}
	std := []float32{0.229, 0.224, 0.225}
	cases := []struct {
		x     *graph.Tensor
		opts  Options
		scale float64
	}{
		{u8, Options{Mean: mean, Std: std}, 1.0 / 255},
		{u8, Options{Scale: 2, Mean: []float32{1}, Std: []float32{4}}, 2},
		{u8, Options{}, 1.0 / 255},
		{f32, Options{Mean: mean, Std: std}, 1},
		{f32, Options{Scale: 0.5, Mean: []float32{-1}, Std: []float32{3}}, 0.5},
	}
	for _, tc := range cases {
		d, err := FromTensors(tc.x, nil, tc.opts)
		if err != nil {
			t.Fatal(err)
		}
		src, _ := tc.x.Float64s()
		indices := []int{2, 0, 2}
		dst := make([]float32, len(indices)*c*h*w)
		if err := d.Batch(indices, dst); err != nil {
			t.Fatal(err)
		}
		for b, idx := range indices {
			for ch := 0; ch < c; ch++ {
				m, s := 0.0, 1.0
				if len(tc.opts.Mean) == 3 {
					m, s = float64(tc.opts.Mean[ch]), float64(tc.opts.Std[ch])
				} else if len(tc.opts.Mean) == 1 {
					m, s = float64(tc.opts.Mean[0]), float64(tc.opts.Std[0])
				}
				for p := 0; p < h*w; p++ {
					x := src[idx*c*h*w+ch*h*w+p]
					want := (x*tc.scale - m) / s
					got := float64(dst[b*c*h*w+ch*h*w+p])
					if math.Abs(got-want) > 1e-6*math.Max(1, math.Abs(want)) {
						t.Fatalf("%s %+v: sample %d channel %d pixel %d is %v, want %v", tc.x.Name, tc.opts, idx, ch, p, got, want)
					}
				}
			}
		}
	}
}

func TestLayouts(t *testing.T) {
	// One 2×2 RGB sample stored pixel by pixel: pixel p has (10p, 10p+1, 10p+2).
	var nhwc []byte
	for p := 0; p < 4; p++ {
		nhwc = append(nhwc, byte(10*p), byte(10*p+1), byte(10*p+2))
	}
	x := &graph.Tensor{Name: "x", DType: graph.Uint8, Dims: []int64{1, 2, 2, 3}, Raw: nhwc}
	for _, layout := range []string{"", "NHWC"} {
		d, err := FromTensors(x, nil, Options{Scale: 1, Layout: layout})
		if err != nil {
			t.Fatal(err)
		}
		dst := make([]float32, 12)
		if err := d.Batch([]int{0}, dst); err != nil {
			t.Fatal(err)
		}
		want := []float32{0, 10, 20, 30, 1, 11, 21, 31, 2, 12, 22, 32}
		if !slices.Equal(d.Shape, []int{3, 2, 2}) || !slices.Equal(dst, want) {
			t.Errorf("layout %q: shape %v batch %v", layout, d.Shape, dst)
		}
	}
	d, err := FromTensors(x, nil, Options{Scale: 1, Layout: "NCHW"})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(d.Shape, []int{2, 2, 3}) {
		t.Errorf("NCHW kept as is: shape %v", d.Shape)
	}
	flat := graph.NewFloat32("flat", []int64{2, 5}, make([]float32, 10))
	if d, err := FromTensors(flat, nil, Options{}); err != nil || !slices.Equal(d.Shape, []int{5}) || d.Channels() != 1 {
		t.Errorf("flat samples: %v %v", d, err)
	}
}

func TestOpenNPZAndNPY(t *testing.T) {
	dir := t.TempDir()
	x := patternTensor(graph.Float32, []int64{4, 1, 2, 3})
	x.Name = "x"
	y := graph.NewInt64("y", []int64{4, 1}, []int64{3, 1, 0, 2})
	path := filepath.Join(dir, "d.npz")
	if err := WriteNPZ(path, []*graph.Tensor{y, x}, true); err != nil {
		t.Fatal(err)
	}
	d, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if d.Kind != KindNPZ || d.N != 4 || !slices.Equal(d.Labels, []int64{3, 1, 0, 2}) || d.NumClasses() != 4 {
		t.Fatalf("kind %s N %d labels %v", d.Kind, d.N, d.Labels)
	}
	dst := make([]float32, 6)
	if err := d.Batch([]int{3}, dst); err != nil {
		t.Fatal(err)
	}
	for i, v := range dst {
		if float64(v) != patternValue(graph.Float32, 18+i) {
			t.Fatalf("element %d is %v", i, v)
		}
	}
	bt, err := d.BatchTensor("input", []int{3, 0})
	if err != nil {
		t.Fatal(err)
	}
	if vals, _ := bt.Float32s(); !slices.Equal(bt.Dims, []int64{2, 1, 2, 3}) || !slices.Equal(vals[:6], dst) {
		t.Errorf("BatchTensor: dims %v values %v", bt.Dims, vals)
	}
	labels := make([]int64, 2)
	if err := d.BatchLabels([]int{3, 0}, labels); err != nil || !slices.Equal(labels, []int64{2, 3}) {
		t.Errorf("labels %v %v", labels, err)
	}

	npy := filepath.Join(dir, "calib.npy")
	if err := WriteNPY(npy, x); err != nil {
		t.Fatal(err)
	}
	d, err = Open(npy, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if d.Kind != KindNPY || d.N != 4 || d.Labels != nil {
		t.Errorf("npy: kind %s N %d labels %v", d.Kind, d.N, d.Labels)
	}
	if err := d.BatchLabels([]int{0}, labels[:1]); err == nil {
		t.Error("labels of an unlabelled set")
	}
}

func TestOpenNPZWithSplits(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mnist.npz")
	xTrain := &graph.Tensor{Name: "x_train", DType: graph.Uint8, Dims: []int64{3, 2, 2}, Raw: make([]byte, 12)}
	yTrain := graph.NewInt64("y_train", []int64{3}, []int64{0, 1, 2})
	xTest := &graph.Tensor{Name: "x_test", DType: graph.Uint8, Dims: []int64{2, 2, 2}, Raw: make([]byte, 8)}
	yTest := &graph.Tensor{Name: "y_test", DType: graph.Uint8, Dims: []int64{2}, Raw: []byte{4, 5}}
	if err := WriteNPZ(path, []*graph.Tensor{xTrain, yTrain, xTest, yTest}, true); err != nil {
		t.Fatal(err)
	}
	for split, want := range map[string][]int64{"": {0, 1, 2}, "train": {0, 1, 2}, "test": {4, 5}} {
		d, err := Open(path, Options{Split: split})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(d.Labels, want) || d.N != len(want) || !slices.Equal(d.Shape, []int{1, 2, 2}) {
			t.Errorf("split %q: N %d shape %v labels %v", split, d.N, d.Shape, d.Labels)
		}
	}
	if _, err := Open(path, Options{Split: "val"}); err == nil || !strings.Contains(err.Error(), "x_val") {
		t.Errorf("missing split: %v", err)
	}
}

func TestFloatLabels(t *testing.T) {
	x := graph.NewFloat32("x", []int64{2, 3}, make([]float32, 6))
	y, _ := graph.NewFromFloat64("y", graph.Float32, []int64{2}, []float64{1, 0})
	d, err := FromTensors(x, y, Options{})
	if err != nil || !slices.Equal(d.Labels, []int64{1, 0}) {
		t.Errorf("integral float labels: %v %v", d, err)
	}
	y, _ = graph.NewFromFloat64("y", graph.Float32, []int64{2}, []float64{1, 0.5})
	if _, err := FromTensors(x, y, Options{}); err == nil {
		t.Error("fractional label accepted")
	}
}

func TestOpenBadInput(t *testing.T) {
	dir := t.TempDir()
	x := patternTensor(graph.Float32, []int64{4, 1, 2, 3})
	x.Name = "x"
	other := patternTensor(graph.Float32, []int64{4})
	other.Name = "z"
	short := graph.NewInt64("y", []int64{3}, []int64{0, 1, 2})
	negative := graph.NewInt64("y", []int64{4}, []int64{0, 1, -1, 2})
	oneHot := graph.NewInt64("y", []int64{4, 2}, make([]int64, 8))
	npz := func(name string, arrays ...*graph.Tensor) string {
		p := filepath.Join(dir, name)
		if err := WriteNPZ(p, arrays, false); err != nil {
			t.Fatal(err)
		}
		return p
	}
	plain := filepath.Join(dir, "notes.txt")
	writeFile(t, plain, []byte("hello"))
	empty := filepath.Join(dir, "empty")
	os.Mkdir(empty, 0o755)
	cases := []struct {
		path string
		opts Options
		says string
	}{
		{npz("no_x.npz", other), Options{}, "no array named x"},
		{npz("short_y.npz", x, short), Options{}, "3 labels for 4 samples"},
		{npz("negative_y.npz", x, negative), Options{}, "≥ 0"},
		{npz("one_hot.npz", x, oneHot), Options{}, "(N,)"},
		{npz("mean.npz", x), Options{Mean: []float32{1, 2}}, "2 mean values for 1 channels"},
		{npz("std.npz", x), Options{Std: []float32{0}}, "std[0]"},
		{npz("layout.npz", x), Options{Layout: "NWHC"}, "unknown layout"},
		{npz("scale.npz", x), Options{Scale: float32(math.Inf(1))}, "scale"},
		{plain, Options{}, "not a dataset"},
		{empty, Options{}, "no class sub-folders"},
	}
	for _, c := range cases {
		_, err := Open(c.path, c.opts)
		if err == nil || !strings.Contains(err.Error(), c.path) || !strings.Contains(err.Error(), c.says) {
			t.Errorf("%s: error %v should name the file and say %q", filepath.Base(c.path), err, c.says)
		}
	}
}

func TestBatchChecksArguments(t *testing.T) {
	d, err := FromTensors(graph.NewFloat32("x", []int64{3, 2}, make([]float32, 6)), nil, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Batch([]int{0, 1}, make([]float32, 3)); err == nil {
		t.Error("short dst accepted")
	}
	for _, idx := range []int{-1, 3} {
		if err := d.Batch([]int{idx}, make([]float32, 2)); err == nil {
			t.Errorf("index %d accepted", idx)
		}
	}
}
