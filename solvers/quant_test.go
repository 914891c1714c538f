package solvers

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
)

const onnxNodeTests = "/usr/share/libonnx-testdata/data/node"

// testTensor is the part of an ONNX TensorProto the conformance files use.
type testTensor struct {
	name   string
	dims   []int
	dtype  int32
	values []float64
}

// readTestTensor decodes a TensorProto file with protowire: solvers may not
// import the onnx package, and only a handful of fields matter here.
func readTestTensor(t *testing.T, path string) testTensor {
	t.Helper()
	buf, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var tt testTensor
	var raw []byte
	var floats []float64
	var ints []int64
	for len(buf) > 0 {
		num, typ, n := protowire.ConsumeTag(buf)
		if n < 0 {
			t.Fatalf("%s: bad tag: %v", path, protowire.ParseError(n))
		}
		buf = buf[n:]
		var fieldLen int
		switch {
		case typ == protowire.BytesType:
			v, m := protowire.ConsumeBytes(buf)
			if m < 0 {
				t.Fatalf("%s: field %d: %v", path, num, protowire.ParseError(m))
			}
			fieldLen = m
			switch num {
			case 1, 5, 7: // packed varints
				for len(v) > 0 {
					x, k := protowire.ConsumeVarint(v)
					if k < 0 {
						t.Fatalf("%s: packed field %d: %v", path, num, protowire.ParseError(k))
					}
					v = v[k:]
					if num == 1 {
						tt.dims = append(tt.dims, int(int64(x)))
					} else {
						ints = append(ints, int64(x))
					}
				}
			case 4: // packed float32
				for i := 0; i+4 <= len(v); i += 4 {
					floats = append(floats, float64(math.Float32frombits(binary.LittleEndian.Uint32(v[i:]))))
				}
			case 8:
				tt.name = string(v)
			case 9:
				raw = append([]byte(nil), v...)
			}
		case typ == protowire.VarintType:
			x, m := protowire.ConsumeVarint(buf)
			if m < 0 {
				t.Fatalf("%s: field %d: %v", path, num, protowire.ParseError(m))
			}
			fieldLen = m
			switch num {
			case 1:
				tt.dims = append(tt.dims, int(int64(x)))
			case 2:
				tt.dtype = int32(x)
			case 5, 7:
				ints = append(ints, int64(x))
			}
		case typ == protowire.Fixed32Type && num == 4:
			x, m := protowire.ConsumeFixed32(buf)
			if m < 0 {
				t.Fatalf("%s: field 4: %v", path, protowire.ParseError(m))
			}
			fieldLen = m
			floats = append(floats, float64(math.Float32frombits(x)))
		default:
			m := protowire.ConsumeFieldValue(num, typ, buf)
			if m < 0 {
				t.Fatalf("%s: field %d: %v", path, num, protowire.ParseError(m))
			}
			fieldLen = m
		}
		buf = buf[fieldLen:]
	}
	size := 1
	for _, d := range tt.dims {
		size *= d
	}
	switch {
	case raw != nil:
		tt.values = decodeRaw(t, path, tt.dtype, raw)
	case floats != nil:
		tt.values = floats
	default:
		for _, v := range ints {
			switch tt.dtype {
			case 3: // int8 stored sign-extended in int32_data
				tt.values = append(tt.values, float64(int32(v)))
			default:
				tt.values = append(tt.values, float64(v))
			}
		}
	}
	if len(tt.values) != size {
		t.Fatalf("%s: %d values for dims %v", path, len(tt.values), tt.dims)
	}
	return tt
}

func decodeRaw(t *testing.T, path string, dtype int32, raw []byte) []float64 {
	var out []float64
	switch dtype {
	case 1:
		for i := 0; i+4 <= len(raw); i += 4 {
			out = append(out, float64(math.Float32frombits(binary.LittleEndian.Uint32(raw[i:]))))
		}
	case 2:
		for _, b := range raw {
			out = append(out, float64(b))
		}
	case 3:
		for _, b := range raw {
			out = append(out, float64(int8(b)))
		}
	case 6:
		for i := 0; i+4 <= len(raw); i += 4 {
			out = append(out, float64(int32(binary.LittleEndian.Uint32(raw[i:]))))
		}
	default:
		t.Fatalf("%s: data type %d not handled by the test parser", path, dtype)
	}
	return out
}

// onnxCaseDirs lists conformance cases matching pattern; under CI the data must exist.
func onnxCaseDirs(t *testing.T, pattern string) []string {
	t.Helper()
	dirs, _ := filepath.Glob(filepath.Join(onnxNodeTests, pattern))
	if len(dirs) == 0 {
		if os.Getenv("CI") == "true" {
			t.Fatalf("no ONNX conformance data at %s/%s (install libonnx-testdata)", onnxNodeTests, pattern)
		}
		t.Skipf("no ONNX conformance data at %s/%s", onnxNodeTests, pattern)
	}
	return dirs
}

// affinesFor builds the ONNX parameters: the zero point's type fixes the range.
func affinesFor(t *testing.T, scale, zero testTensor) []Affine {
	t.Helper()
	scheme := QuantScheme{Bits: 8}
	switch zero.dtype {
	case 2:
	case 3:
		scheme.Signed = true
	default:
		t.Fatalf("zero point type %d", zero.dtype)
	}
	qmin, qmax := scheme.Limits()
	out := make([]Affine, len(scale.values))
	for i := range out {
		out[i] = Affine{Scale: float32(scale.values[i]), ZeroPoint: int32(zero.values[i]), QMin: qmin, QMax: qmax}
	}
	return out
}

// The conformance models carry no axis attribute, so per-axis cases use the
// opset-13 default axis 1.
const onnxDefaultQuantAxis = 1

func TestQuantizeMatchesONNXQuantizeLinear(t *testing.T) {
	for _, dir := range onnxCaseDirs(t, "test_quantizelinear*") {
		set := filepath.Join(dir, "test_data_set_0")
		x := readTestTensor(t, filepath.Join(set, "input_0.pb"))
		params := affinesFor(t, readTestTensor(t, filepath.Join(set, "input_1.pb")), readTestTensor(t, filepath.Join(set, "input_2.pb")))
		want := readTestTensor(t, filepath.Join(set, "output_0.pb"))
		var got []int32
		var err error
		if len(params) == 1 && len(readTestTensor(t, filepath.Join(set, "input_1.pb")).dims) == 0 {
			for _, v := range x.values {
				got = append(got, params[0].Quantize(v))
			}
		} else {
			got, err = QuantizeChannelsWith(x.values, x.dims, onnxDefaultQuantAxis, params)
			if err != nil {
				t.Fatal(err)
			}
		}
		for i := range got {
			if float64(got[i]) != want.values[i] {
				t.Errorf("%s: element %d (x=%g) quantized to %d, ONNX gives %g", filepath.Base(dir), i, x.values[i], got[i], want.values[i])
			}
		}
		// The round trip lands on the grid and within half a step of x unless saturated.
		for i, q := range got {
			p := params[0]
			if len(params) > 1 {
				p = params[(i/innerOf(x.dims, onnxDefaultQuantAxis))%len(params)]
			}
			back := p.Dequantize(q)
			if q > p.QMin && q < p.QMax && math.Abs(back-x.values[i]) > float64(p.Scale)/2 {
				t.Errorf("%s: element %d round trip %g → %g", filepath.Base(dir), i, x.values[i], back)
			}
		}
	}
}

func innerOf(dims []int, axis int) int {
	inner := 1
	for _, d := range dims[axis+1:] {
		inner *= d
	}
	return inner
}

func TestDequantizeMatchesONNXDequantizeLinear(t *testing.T) {
	for _, dir := range onnxCaseDirs(t, "test_dequantizelinear*") {
		set := filepath.Join(dir, "test_data_set_0")
		x := readTestTensor(t, filepath.Join(set, "input_0.pb"))
		scale := readTestTensor(t, filepath.Join(set, "input_1.pb"))
		params := affinesFor(t, scale, readTestTensor(t, filepath.Join(set, "input_2.pb")))
		want := readTestTensor(t, filepath.Join(set, "output_0.pb"))
		q := make([]int32, len(x.values))
		for i, v := range x.values {
			q[i] = int32(v)
		}
		var got []float64
		if len(scale.dims) == 0 {
			got = DequantizeTensor(q, params[0])
		} else {
			var err error
			if got, err = DequantizeChannels(q, x.dims, onnxDefaultQuantAxis, params); err != nil {
				t.Fatal(err)
			}
		}
		for i := range got {
			if got[i] != want.values[i] {
				t.Errorf("%s: element %d dequantized to %g, ONNX gives %g", filepath.Base(dir), i, got[i], want.values[i])
			}
		}
	}
}

// DynamicQuantizeLinear derives uint8 scale and zero point from min/max; our
// asymmetric uint8 scheme must reproduce its outputs.
func TestAffineFromRangeMatchesONNXDynamicQuantizeLinear(t *testing.T) {
	for _, dir := range onnxCaseDirs(t, "test_dynamicquantizelinear*") {
		set := filepath.Join(dir, "test_data_set_0")
		x := readTestTensor(t, filepath.Join(set, "input_0.pb"))
		y := readTestTensor(t, filepath.Join(set, "output_0.pb"))
		scale := readTestTensor(t, filepath.Join(set, "output_1.pb"))
		zero := readTestTensor(t, filepath.Join(set, "output_2.pb"))
		q, a, err := QuantizeTensor(x.values, QuantScheme{Bits: 8}, QuantRange{})
		if err != nil {
			t.Fatal(err)
		}
		if float64(a.Scale) != scale.values[0] || float64(a.ZeroPoint) != zero.values[0] {
			t.Errorf("%s: scale %g zero %d, ONNX gives %g and %g", filepath.Base(dir), a.Scale, a.ZeroPoint, scale.values[0], zero.values[0])
		}
		for i := range q {
			if float64(q[i]) != y.values[i] {
				t.Errorf("%s: element %d → %d, ONNX gives %g", filepath.Base(dir), i, q[i], y.values[i])
			}
		}
	}
}

func TestQuantizerGridProperties(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 21))
	x := make([]float64, 500)
	for i := range x {
		x[i] = rng.NormFloat64() * 3
	}
	x[17] = 0
	for bits := 2; bits <= 8; bits++ {
		for _, signed := range []bool{false, true} {
			for _, sym := range []bool{false, true} {
				scheme := QuantScheme{Bits: bits, Signed: signed, Symmetric: sym}
				name := fmt.Sprintf("%+v", scheme)
				q, a, err := QuantizeTensor(x, scheme, QuantRange{})
				if err != nil {
					t.Fatal(err)
				}
				qmin, qmax := scheme.Limits()
				if qmax-qmin+1 != 1<<uint(bits) {
					t.Errorf("%s: range [%d,%d]", name, qmin, qmax)
				}
				distinct := map[float64]bool{}
				for i, v := range q {
					if v < qmin || v > qmax {
						t.Fatalf("%s: code %d outside [%d,%d]", name, v, qmin, qmax)
					}
					back := a.Dequantize(v)
					distinct[back] = true
					if k := back / float64(a.Scale); math.Abs(k-math.Round(k)) > 1e-4 {
						t.Errorf("%s: %g is off the grid", name, back)
					}
					if v > qmin && v < qmax && math.Abs(back-x[i]) > float64(a.Scale)/2*(1+1e-6) {
						t.Errorf("%s: element %d: |%g − %g| > s/2", name, i, back, x[i])
					}
				}
				if len(distinct) > 1<<uint(bits) {
					t.Errorf("%s: %d distinct values", name, len(distinct))
				}
				if a.FakeQuantize(0) != 0 || a.Dequantize(q[17]) != 0 {
					t.Errorf("%s: 0 does not map to 0 (zero point %d)", name, a.ZeroPoint)
				}
				if sym && signed && a.ZeroPoint != 0 {
					t.Errorf("%s: symmetric signed zero point %d", name, a.ZeroPoint)
				}
			}
		}
	}
	zeros := make([]float64, 10)
	for _, scheme := range []QuantScheme{{Bits: 4}, {Bits: 8, Signed: true, Symmetric: true}} {
		q, a, err := QuantizeTensor(zeros, scheme, QuantRange{})
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range DequantizeTensor(q, a) {
			if v != 0 {
				t.Errorf("%+v: all-zero tensor dequantized to %g", scheme, v)
			}
		}
	}
}

func TestAffineFromRangeFormulas(t *testing.T) {
	// Signed 8-bit asymmetric over [−1, 3]: s = 4/255, z = round(−128 + 255/4) = −64.
	a, err := AffineFromRange(-1, 3, QuantScheme{Bits: 8, Signed: true})
	if err != nil {
		t.Fatal(err)
	}
	if a.Scale != float32(4.0/255) || a.ZeroPoint != -64 {
		t.Errorf("[-1,3] int8: scale %g zero %d", a.Scale, a.ZeroPoint)
	}
	// The range always includes 0: [2, 5] behaves like [0, 5].
	b, _ := AffineFromRange(2, 5, QuantScheme{Bits: 4})
	if b.Scale != float32(5.0/15) || b.ZeroPoint != 0 {
		t.Errorf("[2,5] uint4: scale %g zero %d", b.Scale, b.ZeroPoint)
	}
	// Symmetric int8 over max |x| = 127.5: s = 127.5/127.5 = 1; +127.5 rounds to
	// 128 and saturates to 127, −127.5 rounds to −128.
	c, _ := AffineFromRange(-1, 127.5, QuantScheme{Bits: 8, Signed: true, Symmetric: true})
	if c.Scale != 1 || c.Quantize(127.5) != 127 || c.Quantize(-127.5) != -128 || c.ZeroPoint != 0 {
		t.Errorf("symmetric int8: scale %g, %d %d zero %d", c.Scale, c.Quantize(127.5), c.Quantize(-127.5), c.ZeroPoint)
	}
	u, _ := AffineFromRange(-1, 2, QuantScheme{Bits: 8, Symmetric: true})
	if u.ZeroPoint != 128 {
		t.Errorf("symmetric uint8 zero point %d, want 128", u.ZeroPoint)
	}
	// Round half to even: 0.5 and 2.5 steps go to 0 and 2, −1.5 to −2.
	h := Affine{Scale: 1, QMin: -8, QMax: 7}
	if h.Quantize(0.5) != 0 || h.Quantize(2.5) != 2 || h.Quantize(-1.5) != -2 || h.Quantize(100) != 7 || h.Quantize(-100) != -8 {
		t.Error("rounding or saturation is wrong")
	}
	for _, bad := range []struct {
		lo, hi float64
		bits   int
	}{{0, 1, 1}, {0, 1, 9}, {2, 1, 8}, {math.NaN(), 1, 8}, {0, math.Inf(1), 8}} {
		if _, err := AffineFromRange(bad.lo, bad.hi, QuantScheme{Bits: bad.bits}); err == nil {
			t.Errorf("accepted range [%g,%g] at %d bits", bad.lo, bad.hi, bad.bits)
		}
	}
	if _, _, err := QuantizeTensor([]float64{1, math.NaN()}, QuantScheme{Bits: 8}, QuantRange{}); err == nil {
		t.Error("NaN tensor accepted")
	}
	if _, _, err := QuantizeTensor(nil, QuantScheme{Bits: 8}, QuantRange{}); err == nil {
		t.Error("empty tensor accepted")
	}
}

func TestQuantPercentileRange(t *testing.T) {
	x := make([]float64, 101)
	for i := range x {
		x[i] = float64(i) - 50 // −50 … 50
	}
	x[0], x[100] = -1000, 1000
	lo, hi, err := QuantRange{Percentile: 99}.rangeOf(x)
	if err != nil {
		t.Fatal(err)
	}
	if lo != -49 || hi != 49 {
		t.Errorf("1st/99th percentiles %g %g, want −49 and 49", lo, hi)
	}
	lo, hi, _ = QuantRange{Percentile: 99.5}.rangeOf(x)
	if lo != -524.5 || hi != 524.5 { // halfway between ±49 and ±1000
		t.Errorf("0.5th/99.5th percentiles %g %g, want ∓524.5", lo, hi)
	}
	if _, _, err := (QuantRange{Percentile: 30}).rangeOf(x); err == nil {
		t.Error("percentile 30 accepted")
	}
}

func TestQuantizeChannels(t *testing.T) {
	// Shape (2, 3, 2), axis 1: channel c holds different magnitudes.
	x := []float64{1, -1, 10, -10, 100, 50, 2, 0, 20, 5, 200, -100}
	q, params, err := QuantizeChannels(x, []int{2, 3, 2}, 1, QuantScheme{Bits: 8, Signed: true, Symmetric: true}, QuantRange{})
	if err != nil {
		t.Fatal(err)
	}
	for c, want := range []float64{2, 20, 200} {
		if params[c].Scale != float32(want/127.5) {
			t.Errorf("channel %d scale %g, want %g", c, params[c].Scale, want/127.5)
		}
	}
	back, err := DequantizeChannels(q, []int{2, 3, 2}, -2, params)
	if err != nil {
		t.Fatal(err)
	}
	for i := range x {
		c := (i / 2) % 3
		if math.Abs(back[i]-x[i]) > float64(params[c].Scale) {
			t.Errorf("element %d: %g → %g", i, x[i], back[i])
		}
	}
	if _, _, err := QuantizeChannels(x, []int{2, 3, 3}, 1, QuantScheme{Bits: 8}, QuantRange{}); err == nil {
		t.Error("wrong shape accepted")
	}
	if _, _, err := QuantizeChannels(x, []int{2, 3, 2}, 3, QuantScheme{Bits: 8}, QuantRange{}); err == nil {
		t.Error("bad axis accepted")
	}
	if _, err := DequantizeChannels(q, []int{2, 3, 2}, 1, params[:2]); err == nil {
		t.Error("too few channel parameters accepted")
	}
}

func TestMagnitudeMask(t *testing.T) {
	x := []float64{0.5, -3, 2, -2, 0, 2, 1}
	mask, err := MagnitudeMask(x, 3)
	if err != nil {
		t.Fatal(err)
	}
	// |x| order: 3 (idx1), then the tie 2,2,2 at idx 2,3,5 → lower indices 2 and 3 win.
	want := []bool{false, true, true, true, false, false, false}
	if !slices.Equal(mask, want) {
		t.Errorf("mask %v, want %v", mask, want)
	}
	rng := rand.New(rand.NewPCG(22, 22))
	y := make([]float64, 200)
	for i := range y {
		y[i] = math.Round(rng.NormFloat64()*4) / 4 // many ties
	}
	prev := make([]bool, len(y))
	for _, k := range []float64{0, 0.025, 0.1, 0.37, 0.5, 0.9, 1} {
		keep, err := MagnitudeKeepCount(len(y), k)
		if err != nil {
			t.Fatal(err)
		}
		if want := len(y) - int((1-k)*float64(len(y))); keep != want {
			t.Errorf("keep count %d at k=%g", keep, k)
		}
		m, err := MagnitudeMask(y, keep)
		if err != nil {
			t.Fatal(err)
		}
		minKept, maxDropped, kept := math.Inf(1), 0.0, 0
		for i, on := range m {
			if on {
				kept++
				minKept = math.Min(minKept, math.Abs(y[i]))
			} else {
				maxDropped = math.Max(maxDropped, math.Abs(y[i]))
			}
			if prev[i] && !on {
				t.Errorf("k=%g: entry %d dropped although kept at a smaller k", k, i)
			}
		}
		if kept != keep || (kept > 0 && kept < len(y) && minKept < maxDropped) {
			t.Errorf("k=%g: kept %d (want %d), min kept %g < max dropped %g", k, kept, keep, minKept, maxDropped)
		}
		prev = m
	}
	if _, err := MagnitudeMask(x, 8); err == nil {
		t.Error("keep > len accepted")
	}
	if _, err := MagnitudeMask([]float64{math.NaN()}, 1); err == nil {
		t.Error("NaN accepted")
	}
	if _, err := MagnitudeKeepCount(10, 1.5); err == nil {
		t.Error("keep fraction 1.5 accepted")
	}
}

// The LCS reference multiplies by the reciprocal of the scale; that may move a
// value by one step at ties but never further (lcs.md C.2 item 6).
func TestQuantizeByReciprocal(t *testing.T) {
	rng := rand.New(rand.NewPCG(23, 23))
	a, err := AffineFromRange(-3.7, 5.1, QuantScheme{Bits: 8, Signed: true})
	if err != nil {
		t.Fatal(err)
	}
	same := 0
	for i := 0; i < 20000; i++ {
		x := (rng.Float64()*2 - 1) * 6
		if i%2 == 0 { // exact ties x = (k + 1/2)·s
			x = (float64(rng.IntN(200)-100) + 0.5) * float64(a.Scale)
		}
		q, r := a.Quantize(x), a.QuantizeByReciprocal(x)
		if d := q - r; d < -1 || d > 1 {
			t.Fatalf("x=%g: divide gives %d, reciprocal %d", x, q, r)
		}
		if q == r {
			same++
		}
	}
	if same < 19000 {
		t.Errorf("only %d of 20000 codes agree", same)
	}
}
