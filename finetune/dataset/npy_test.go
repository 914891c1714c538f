package dataset

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/onnxcompress/onnxcompress/graph"
)

// numpyKinds are the dtypes .npy files carry here, by numpy kind code.
var numpyKinds = []struct {
	kind  string
	dtype graph.DType
}{
	{"f2", graph.Float16}, {"f4", graph.Float32}, {"f8", graph.Float64},
	{"i1", graph.Int8}, {"i2", graph.Int16}, {"i4", graph.Int32}, {"i8", graph.Int64},
	{"u1", graph.Uint8}, {"u2", graph.Uint16}, {"u4", graph.Uint32}, {"u8", graph.Uint64},
	{"b1", graph.Bool},
}

// patternValue is element i of the test pattern for a dtype; the Python twin
// below (patternPy) must compute the same numbers. Multipliers spread values
// over every byte so a byte-order mistake shows.
func patternValue(dt graph.DType, i int) float64 {
	mult := map[int]float64{1: 1, 2: 257, 4: 16777259, 8: 1<<40 + 3}[dt.Size()]
	switch {
	case dt == graph.Bool:
		if i%3 == 0 {
			return 1
		}
		return 0
	case dt.IsFloat():
		return float64(i-5) * 0.25
	case dt == graph.Uint8 || dt == graph.Uint16 || dt == graph.Uint32 || dt == graph.Uint64:
		return float64(i*37%251) * mult
	}
	return float64(i*37%200-100) * mult
}

const patternPy = `
import numpy as np
def pattern(kind, n):
    i = np.arange(n, dtype=np.int64)
    size = int(kind[1])
    mult = {1: 1, 2: 257, 4: 16777259, 8: (1 << 40) + 3}[size]
    if kind == 'b1':
        return (i % 3 == 0)
    if kind[0] == 'f':
        return ((i - 5) * 0.25).astype(kind)
    if kind[0] == 'u':
        return ((i * 37 % 251) * mult).astype(np.uint64).astype(kind)
    return ((i * 37 % 200 - 100) * mult).astype(kind)
`

func patternTensor(dt graph.DType, dims []int64) *graph.Tensor {
	n, _ := graph.NumElements(dims)
	vals := make([]float64, n)
	for i := range vals {
		vals[i] = patternValue(dt, i)
	}
	raw := make([]byte, int(n)*dt.Size())
	le := binary.LittleEndian
	for i, v := range vals {
		switch dt {
		case graph.Float16:
			le.PutUint16(raw[2*i:], graph.Float32ToFloat16(float32(v)))
		case graph.Float32:
			le.PutUint32(raw[4*i:], math.Float32bits(float32(v)))
		case graph.Float64:
			le.PutUint64(raw[8*i:], math.Float64bits(v))
		case graph.Int8, graph.Uint8, graph.Bool:
			raw[i] = byte(int64(v))
		case graph.Int16, graph.Uint16:
			le.PutUint16(raw[2*i:], uint16(int64(v)))
		case graph.Int32, graph.Uint32:
			le.PutUint32(raw[4*i:], uint32(int64(v)))
		default:
			le.PutUint64(raw[8*i:], uint64(int64(v)))
		}
	}
	return &graph.Tensor{DType: dt, Dims: dims, Raw: raw}
}

func checkPattern(t *testing.T, what string, got *graph.Tensor, dt graph.DType, dims []int64) {
	t.Helper()
	if got.DType != dt || fmt.Sprint(got.Dims) != fmt.Sprint(dims) {
		t.Fatalf("%s: got %s %v, want %s %v", what, got.DType, got.Dims, dt, dims)
	}
	vals, err := got.Float64s()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	for i, v := range vals {
		if want := patternValue(dt, i); v != want {
			t.Fatalf("%s: element %d is %v, want %v", what, i, v, want)
		}
	}
}

func TestNPYRoundTrip(t *testing.T) {
	for _, k := range numpyKinds {
		for _, dims := range [][]int64{{2, 3, 4}, {7}, {}, {0, 3}} {
			want := patternTensor(k.dtype, dims)
			var buf bytes.Buffer
			if err := EncodeNPY(&buf, want); err != nil {
				t.Fatal(err)
			}
			if buf.Len()-len(want.Raw) != 128 && buf.Len()-len(want.Raw) != 64 {
				t.Errorf("%s %v: header of %d bytes is not 64-aligned", k.kind, dims, buf.Len()-len(want.Raw))
			}
			got, err := DecodeNPY(&buf, "mem")
			if err != nil {
				t.Fatal(err)
			}
			checkPattern(t, k.kind, got, k.dtype, dims)
		}
	}
}

func TestEncodeNPYRejects(t *testing.T) {
	var buf bytes.Buffer
	for _, bad := range []*graph.Tensor{
		{Name: "bf", DType: graph.BFloat16, Dims: []int64{1}, Raw: []byte{0, 0}},
		{Name: "short", DType: graph.Float32, Dims: []int64{2}, Raw: []byte{0, 0, 0, 0}},
	} {
		if err := EncodeNPY(&buf, bad); err == nil || !strings.Contains(err.Error(), bad.Name) {
			t.Errorf("%s: error %v should name the tensor", bad.Name, err)
		}
	}
}

// TestNPYFromNumpy reads what numpy writes: every dtype, both byte orders,
// C and Fortran order, format versions 1.0, 2.0 and 3.0.
func TestNPYFromNumpy(t *testing.T) {
	dir := t.TempDir()
	runPython(t, patternPy+`
import sys, os
d = sys.argv[1]
for kind in sys.argv[2].split(','):
    for order in '<>':
        for fortran in (False, True):
            for version in ((1, 0), (2, 0), (3, 0)):
                a = pattern(kind, 24).reshape(2, 3, 4).astype(np.dtype(kind).newbyteorder(order))
                if fortran:
                    a = np.asfortranarray(a)
                name = '%s_%s_%d_%d.npy' % (kind, 'big' if order == '>' else 'little', fortran, version[0])
                with open(os.path.join(d, name), 'wb') as f:
                    np.lib.format.write_array(f, a, version=version)
np.save(os.path.join(d, 'scalar.npy'), np.float32(-1.25))
`, dir, strings.Join(kindCodes(), ","))
	n := 0
	for _, k := range numpyKinds {
		for _, order := range []string{"little", "big"} {
			for fortran := 0; fortran < 2; fortran++ {
				for version := 1; version <= 3; version++ {
					name := fmt.Sprintf("%s_%s_%d_%d.npy", k.kind, order, fortran, version)
					got, err := ReadNPY(filepath.Join(dir, name))
					if err != nil {
						t.Fatal(err)
					}
					checkPattern(t, name, got, k.dtype, []int64{2, 3, 4})
					n++
				}
			}
		}
	}
	scalar, err := ReadNPY(filepath.Join(dir, "scalar.npy"))
	if err != nil {
		t.Fatal(err)
	}
	if f, _ := scalar.Float32s(); len(scalar.Dims) != 0 || len(f) != 1 || f[0] != -1.25 {
		t.Errorf("0-d array: dims %v values %v", scalar.Dims, f)
	}
	if n != 144 {
		t.Errorf("checked %d files", n)
	}
}

// TestNPYToNumpy has numpy load what WriteNPY writes.
func TestNPYToNumpy(t *testing.T) {
	dir := t.TempDir()
	for _, k := range numpyKinds {
		for _, dims := range [][]int64{{2, 3, 4}, {5}, {}} {
			path := filepath.Join(dir, fmt.Sprintf("%s_%d.npy", k.kind, len(dims)))
			if err := WriteNPY(path, patternTensor(k.dtype, dims)); err != nil {
				t.Fatal(err)
			}
		}
	}
	out := runPython(t, patternPy+`
import sys, os
d = sys.argv[1]
for kind in sys.argv[2].split(','):
    for shape in ((2, 3, 4), (5,), ()):
        a = np.load(os.path.join(d, '%s_%d.npy' % (kind, len(shape))))
        want = pattern(kind, int(np.prod(shape))).reshape(shape)
        assert a.dtype == np.dtype(kind), (kind, a.dtype)
        assert a.shape == shape, (kind, a.shape)
        assert a.flags['C_CONTIGUOUS']
        assert np.array_equal(a, want), (kind, a, want)
print('numpy ok')
`, dir, strings.Join(kindCodes(), ","))
	if !strings.Contains(out, "numpy ok") {
		t.Fatal(out)
	}
}

func npyBytes(version byte, header string, data []byte) []byte {
	b := append([]byte{}, npyMagic...)
	b = append(b, version, 0)
	if version == 1 {
		b = binary.LittleEndian.AppendUint16(b, uint16(len(header)))
	} else {
		b = binary.LittleEndian.AppendUint32(b, uint32(len(header)))
	}
	return append(append(b, header...), data...)
}

func TestReadNPYBadInput(t *testing.T) {
	good := "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }"
	long := append(append([]byte{}, npyMagic...), 2, 0)
	long = binary.LittleEndian.AppendUint32(long, 1<<30)
	cases := map[string][]byte{
		"empty":          {},
		"bad magic":      []byte("\x93NUMPZ\x01\x00\x10\x00{}"),
		"version 9":      npyBytes(9, good, make([]byte, 8)),
		"short header":   npyBytes(1, good, nil)[:20],
		"bad header":     npyBytes(1, "{'descr': '<f4'", make([]byte, 8)),
		"truncated data": npyBytes(1, good, make([]byte, 7)),
		"trailing data":  npyBytes(1, good, make([]byte, 9)),
		"huge header":    long,
		"huge shape":     npyBytes(1, "{'descr': '<f8', 'fortran_order': False, 'shape': (1000000, 1000000, 1000000), }", make([]byte, 8)),
	}
	dir := t.TempDir()
	for name, content := range cases {
		path := filepath.Join(dir, strings.ReplaceAll(name, " ", "_")+".npy")
		if err := os.WriteFile(path, content, 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := ReadNPY(path)
		if err == nil || !strings.Contains(err.Error(), path) {
			t.Errorf("%s: error %v should name %s", name, err, path)
		}
	}
	if _, err := ReadNPY(filepath.Join(dir, "absent.npy")); err == nil {
		t.Error("absent file accepted")
	}
}

func TestFortranOrderTransposes(t *testing.T) {
	// A 2×3 int8 matrix [[1 2 3] [4 5 6]] stored column by column.
	b := npyBytes(1, "{'descr': '|i1', 'fortran_order': True, 'shape': (2, 3), }", []byte{1, 4, 2, 5, 3, 6})
	got, err := DecodeNPY(bytes.NewReader(b), "mem")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Raw, []byte{1, 2, 3, 4, 5, 6}) {
		t.Errorf("got %v", got.Raw)
	}
}

func FuzzDecodeNPY(f *testing.F) {
	var buf bytes.Buffer
	if err := EncodeNPY(&buf, patternTensor(graph.Float32, []int64{2, 3})); err != nil {
		f.Fatal(err)
	}
	f.Add(buf.Bytes())
	f.Add(npyBytes(1, "{'descr': '>i2', 'fortran_order': True, 'shape': (2, 2), }", make([]byte, 8)))
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := DecodeNPY(bytes.NewReader(b), "fuzz")
		if err != nil {
			return
		}
		if err := got.Validate(); err != nil {
			t.Fatal(err)
		}
	})
}
