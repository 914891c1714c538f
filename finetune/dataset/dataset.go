package dataset

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"

	"github.com/onnxcompress/onnxcompress/graph"
)

// Kind says what a Dataset was read from.
type Kind string

const (
	KindIDX    Kind = "idx"    // MNIST-layout folder or IDX image file
	KindNPZ    Kind = "npz"    // .npz with x (and optionally y)
	KindNPY    Kind = "npy"    // .npy holding x only
	KindImages Kind = "images" // folder of images, one sub-folder per class
	KindArrays Kind = "arrays" // built in memory by FromTensors
)

// Options say which part of a source to read and how to normalise it.
type Options struct {
	// Split picks "train" (the default) or "test": the t10k files of an IDX
	// folder, or x_test/y_test of a .npz that has no plain x.
	Split string
	// Channels (1 or 3), Height and Width are the sample shape images are
	// loaded at; zero takes it from the first image.
	Channels, Height, Width int
	// Resize scales each image's shorter side to this before the centre crop
	// to Height×Width; zero scales just enough to cover the crop.
	Resize int
	// Layout of a 4-D x array: "NCHW", "NHWC", or "" to guess from which axis
	// has 1, 3 or 4 entries.
	Layout string
	// Scale multiplies raw values first; zero means 1/255 for uint8 sources
	// and 1 otherwise.
	Scale float32
	// Mean and Std hold one value for all channels or one per channel;
	// x' = (x*Scale - Mean[c]) / Std[c]. Defaults: 0 and 1.
	Mean, Std []float32
}

// Dataset is a set of samples held in memory, read out in normalised NCHW
// float32 batches.
type Dataset struct {
	Path string
	Kind Kind
	// N is the number of samples.
	N int
	// Shape is one sample's shape: C,H,W for images (N×H×W arrays get C=1),
	// as stored for other arrays.
	Shape []int
	// Labels are the class of each sample; nil for unlabelled data.
	Labels []int64
	// Classes name the labels of an image folder; nil otherwise.
	Classes []string

	// Exactly one of u8 and f32 holds the samples, sample after sample.
	u8  []uint8
	f32 []float32
	// Element e of a sample belongs to channel e / plane.
	plane     int
	scale     float32
	mean, std []float32
	lut       [][256]float32 // per channel, for u8
}

// Open reads the dataset at path: an MNIST-layout folder of IDX files, an IDX
// image file, a .npz with x and optionally y (or x_train, y_train, x_test,
// y_test), a .npy holding x, or a folder of images with one sub-folder per class.
func Open(path string, opts Options) (*Dataset, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if opts.Split == "" {
		opts.Split = "train"
	}
	if st.IsDir() {
		if hasIDXFiles(path) {
			images, labels, err := idxPair(path, opts.Split)
			if err != nil {
				return nil, err
			}
			return openIDX(path, images, labels, opts)
		}
		return openImageFolder(path, opts)
	}
	name := strings.ToLower(filepath.Base(path))
	switch {
	case strings.HasSuffix(name, ".npz"):
		return openNPZ(path, opts)
	case strings.HasSuffix(name, ".npy"):
		x, err := ReadNPY(path)
		if err != nil {
			return nil, err
		}
		return build(path, KindNPY, x, nil, opts)
	case strings.Contains(name, "idx3-ubyte"):
		labels := filepath.Join(filepath.Dir(path), strings.NewReplacer("images", "labels", "idx3", "idx1").Replace(filepath.Base(path)))
		if _, err := os.Stat(labels); err != nil {
			labels = ""
		}
		return openIDX(path, path, labels, opts)
	}
	return nil, fmt.Errorf("%s: not a dataset (want an IDX folder or file, .npz, .npy or image folder)", path)
}

func openIDX(path, images, labels string, opts Options) (*Dataset, error) {
	x, y, err := readIDXPair(images, labels)
	if err != nil {
		return nil, err
	}
	opts.Layout = "NCHW"
	return build(path, KindIDX, x, y, opts)
}

func openNPZ(path string, opts Options) (*Dataset, error) {
	arrays, err := ReadNPZ(path)
	if err != nil {
		return nil, err
	}
	byName := map[string]*graph.Tensor{}
	for _, a := range arrays {
		byName[a.Name] = a
	}
	x, yt := byName["x"], byName["y"]
	if x == nil { // Keras-style archives keep both splits: x_train, y_train, x_test, y_test
		x, yt = byName["x_"+opts.Split], byName["y_"+opts.Split]
	}
	if x == nil {
		return nil, fmt.Errorf("%s: no array named x (or x_%s)", path, opts.Split)
	}
	var y []int64
	if yt != nil {
		if y, err = labelsOf(yt); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
	}
	return build(path, KindNPZ, x, y, opts)
}

func openImageFolder(path string, opts Options) (*Dataset, error) {
	if c := opts.Channels; c != 0 && c != 1 && c != 3 {
		return nil, fmt.Errorf("%s: image folders load 1 or 3 channels, not %d", path, c)
	}
	if opts.Height < 0 || opts.Width < 0 || opts.Resize < 0 {
		return nil, fmt.Errorf("%s: negative image size %d×%d (resize %d)", path, opts.Height, opts.Width, opts.Resize)
	}
	files, labels, classes, err := scanImageFolder(path)
	if err != nil {
		return nil, err
	}
	c, h, w, err := imageGeometry(files[0], opts)
	if err != nil {
		return nil, err
	}
	data, err := loadImages(files, c, h, w, opts.Resize)
	if err != nil {
		return nil, err
	}
	d := &Dataset{Path: path, Kind: KindImages, N: len(files), Shape: []int{c, h, w}, Labels: labels, Classes: classes, u8: data, plane: h * w}
	if err := d.setNormalisation(opts, 1.0/255); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return d, nil
}

// FromTensors makes a dataset of the samples in x (first axis: samples) and
// their labels y (integer, N or N×1), or no labels when y is nil. A uint8 x
// is used in place, not copied: leave it unchanged afterwards.
func FromTensors(x, y *graph.Tensor, opts Options) (*Dataset, error) {
	var labels []int64
	if y != nil {
		var err error
		if labels, err = labelsOf(y); err != nil {
			return nil, err
		}
	}
	return build(x.Name, KindArrays, x, labels, opts)
}

// labelsOf reads a label vector (N or N×1, integer or integral float).
func labelsOf(y *graph.Tensor) ([]int64, error) {
	if len(y.Dims) != 1 && !(len(y.Dims) == 2 && y.Dims[1] == 1) {
		return nil, fmt.Errorf("labels %q must have shape (N,) or (N, 1), not %v", y.Name, y.Dims)
	}
	if !y.DType.IsFloat() {
		return y.Int64s()
	}
	f, err := y.Float64s()
	if err != nil {
		return nil, err
	}
	out := make([]int64, len(f))
	for i, v := range f {
		if v != math.Trunc(v) || math.Abs(v) > 1<<53 {
			return nil, fmt.Errorf("labels %q: entry %d is %v, not a class index", y.Name, i, v)
		}
		out[i] = int64(v)
	}
	return out, nil
}

// build checks x and y and stores x in NCHW order.
func build(path string, kind Kind, x *graph.Tensor, y []int64, opts Options) (*Dataset, error) {
	fail := func(format string, a ...any) (*Dataset, error) {
		return nil, fmt.Errorf("%s: "+format, append([]any{path}, a...)...)
	}
	if err := x.Validate(); err != nil {
		return fail("%w", err)
	}
	if len(x.Dims) < 2 {
		return fail("x must have a sample axis and at least one more, got dims %v", x.Dims)
	}
	for _, d := range x.Dims {
		if d > math.MaxInt32 {
			return fail("x dims %v are too large", x.Dims)
		}
	}
	n := int(x.Dims[0])
	if y != nil && len(y) != n {
		return fail("%d labels for %d samples", len(y), n)
	}
	for i, v := range y {
		if v < 0 {
			return fail("label %d is %d; labels must be class indices ≥ 0", i, v)
		}
	}
	dims := x.Dims
	if opts.Layout != "" && opts.Layout != "NCHW" && opts.Layout != "NHWC" {
		return fail("unknown layout %q (want NCHW or NHWC)", opts.Layout)
	}
	nhwc := len(dims) == 4 && (opts.Layout == "NHWC" ||
		opts.Layout == "" && !isChannelCount(dims[1]) && isChannelCount(dims[3]))
	shape := make([]int, len(dims)-1)
	for i, v := range dims[1:] {
		shape[i] = int(v)
	}
	switch {
	case nhwc:
		shape = []int{shape[2], shape[0], shape[1]}
	case len(shape) == 2: // N×H×W, as IDX and Keras store gray images
		shape = []int{1, shape[0], shape[1]}
	}
	d := &Dataset{Path: path, Kind: kind, N: n, Shape: shape, Labels: y}
	d.plane = d.SampleSize()
	if len(shape) == 3 {
		d.plane = shape[1] * shape[2]
	}
	defaultScale := float32(1)
	if x.DType == graph.Uint8 {
		defaultScale = 1.0 / 255
		d.u8 = x.Raw
		if nhwc {
			d.u8 = nhwcToNCHW(x.Raw, n, shape[1], shape[2], shape[0])
		}
	} else {
		f, err := x.Float32s()
		if err != nil {
			return fail("x: %w", err)
		}
		d.f32 = f
		if nhwc {
			d.f32 = nhwcToNCHW(f, n, shape[1], shape[2], shape[0])
		}
	}
	if err := d.setNormalisation(opts, defaultScale); err != nil {
		return fail("%w", err)
	}
	return d, nil
}

func isChannelCount(d int64) bool { return d == 1 || d == 3 || d == 4 }

func nhwcToNCHW[T any](src []T, n, h, w, c int) []T {
	out := make([]T, len(src))
	hw := h * w
	for s := 0; s < n; s++ {
		in, o := src[s*hw*c:(s+1)*hw*c], out[s*hw*c:(s+1)*hw*c]
		for p := 0; p < hw; p++ {
			for ch := 0; ch < c; ch++ {
				o[ch*hw+p] = in[p*c+ch]
			}
		}
	}
	return out
}

func (d *Dataset) setNormalisation(opts Options, defaultScale float32) error {
	c := d.Channels()
	d.scale = opts.Scale
	if d.scale == 0 {
		d.scale = defaultScale
	}
	if math.IsNaN(float64(d.scale)) || math.IsInf(float64(d.scale), 0) {
		return fmt.Errorf("scale %v is not finite", d.scale)
	}
	var err error
	if d.mean, err = perChannel("mean", opts.Mean, c, 0); err != nil {
		return err
	}
	if d.std, err = perChannel("std", opts.Std, c, 1); err != nil {
		return err
	}
	for i, s := range d.std {
		if s == 0 || math.IsNaN(float64(s)) || math.IsInf(float64(s), 0) {
			return fmt.Errorf("std[%d] is %v; it must be finite and non-zero", i, s)
		}
	}
	for _, m := range d.mean {
		if math.IsNaN(float64(m)) || math.IsInf(float64(m), 0) {
			return fmt.Errorf("mean %v is not finite", d.mean)
		}
	}
	if d.u8 != nil {
		d.lut = make([][256]float32, c)
		for ch := range d.lut {
			for v := range 256 {
				d.lut[ch][v] = d.normalise(float32(v), ch)
			}
		}
	}
	return nil
}

func perChannel(what string, vals []float32, c int, def float32) ([]float32, error) {
	out := make([]float32, c)
	switch len(vals) {
	case 0:
		vals = []float32{def}
		fallthrough
	case 1:
		for i := range out {
			out[i] = vals[0]
		}
	case c:
		copy(out, vals)
	default:
		return nil, fmt.Errorf("%d %s values for %d channels (give 1 or %d)", len(vals), what, c, c)
	}
	return out, nil
}

func (d *Dataset) normalise(x float32, ch int) float32 {
	return (x*d.scale - d.mean[ch]) / d.std[ch]
}

// Channels is the number of channels normalisation distinguishes: Shape[0]
// for C,H,W samples, else 1.
func (d *Dataset) Channels() int {
	if len(d.Shape) == 3 {
		return d.Shape[0]
	}
	return 1
}

// SampleSize is the number of float32 values in one sample.
func (d *Dataset) SampleSize() int {
	n := 1
	for _, v := range d.Shape {
		n *= v
	}
	return n
}

// NumClasses is the number of class names, or else one more than the largest label.
func (d *Dataset) NumClasses() int {
	if d.Classes != nil {
		return len(d.Classes)
	}
	k := 0
	for _, v := range d.Labels {
		k = max(k, int(v)+1)
	}
	return k
}

// Batch writes the normalised samples at indices into dst, one after another
// (NCHW for image samples); dst must hold exactly len(indices)*SampleSize() values.
func (d *Dataset) Batch(indices []int, dst []float32) error {
	size := d.SampleSize()
	if len(dst) != len(indices)*size {
		return fmt.Errorf("%s: batch of %d samples of %d values needs %d floats, dst has %d", d.Path, len(indices), size, len(indices)*size, len(dst))
	}
	if err := d.checkIndices(indices); err != nil {
		return err
	}
	for b, idx := range indices {
		out := dst[b*size : (b+1)*size]
		for ch := 0; ch*d.plane < size; ch++ {
			lo, hi := idx*size+ch*d.plane, idx*size+(ch+1)*d.plane
			o := out[ch*d.plane : (ch+1)*d.plane]
			if d.u8 != nil {
				lut := &d.lut[ch]
				for i, v := range d.u8[lo:hi] {
					o[i] = lut[v]
				}
				continue
			}
			scale, mean, std := d.scale, d.mean[ch], d.std[ch]
			for i, v := range d.f32[lo:hi] {
				o[i] = (v*scale - mean) / std
			}
		}
	}
	return nil
}

// BatchTensor is Batch into a new float32 tensor of dims [len(indices), Shape...].
func (d *Dataset) BatchTensor(name string, indices []int) (*graph.Tensor, error) {
	vals := make([]float32, len(indices)*d.SampleSize())
	if err := d.Batch(indices, vals); err != nil {
		return nil, err
	}
	dims := []int64{int64(len(indices))}
	for _, v := range d.Shape {
		dims = append(dims, int64(v))
	}
	return graph.NewFloat32(name, dims, vals), nil
}

// BatchLabels writes the labels at indices into dst (len(dst) == len(indices)).
func (d *Dataset) BatchLabels(indices []int, dst []int64) error {
	if d.Labels == nil {
		return fmt.Errorf("%s: the dataset has no labels", d.Path)
	}
	if len(dst) != len(indices) {
		return fmt.Errorf("%s: %d labels asked into room for %d", d.Path, len(indices), len(dst))
	}
	if err := d.checkIndices(indices); err != nil {
		return err
	}
	for i, idx := range indices {
		dst[i] = d.Labels[idx]
	}
	return nil
}

func (d *Dataset) checkIndices(indices []int) error {
	for _, idx := range indices {
		if idx < 0 || idx >= d.N {
			return fmt.Errorf("%s: sample index %d out of range [0, %d)", d.Path, idx, d.N)
		}
	}
	return nil
}
