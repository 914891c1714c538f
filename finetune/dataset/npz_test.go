package dataset

import (
	"archive/zip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/onnxcompress/onnxcompress/graph"
)

func TestNPZRoundTrip(t *testing.T) {
	for _, compress := range []bool{false, true} {
		path := filepath.Join(t.TempDir(), "a.npz")
		x := patternTensor(graph.Float32, []int64{4, 1, 2, 3})
		x.Name = "x"
		y := patternTensor(graph.Int64, []int64{4})
		y.Name = "y"
		if err := WriteNPZ(path, []*graph.Tensor{x, y}, compress); err != nil {
			t.Fatal(err)
		}
		got, err := ReadNPZ(path)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 2 || got[0].Name != "x" || got[1].Name != "y" {
			t.Fatalf("got %d arrays", len(got))
		}
		checkPattern(t, "x", got[0], graph.Float32, []int64{4, 1, 2, 3})
		checkPattern(t, "y", got[1], graph.Int64, []int64{4})
	}
}

func TestWriteNPZRejectsDuplicateNames(t *testing.T) {
	a := patternTensor(graph.Float32, []int64{2})
	a.Name = "a"
	path := filepath.Join(t.TempDir(), "dup.npz")
	if err := WriteNPZ(path, []*graph.Tensor{a, a}, false); err == nil {
		t.Fatal("duplicate names accepted")
	}
	if _, err := os.Stat(path); err == nil {
		t.Error("a failed write left a file behind")
	}
}

// TestNPZWithNumpy checks both directions: numpy's savez and savez_compressed
// read here, and our stored and deflated archives loaded by numpy.
func TestNPZWithNumpy(t *testing.T) {
	dir := t.TempDir()
	for _, compress := range []bool{false, true} {
		var arrays []*graph.Tensor
		for _, k := range numpyKinds {
			a := patternTensor(k.dtype, []int64{3, 5})
			a.Name = k.kind
			arrays = append(arrays, a)
		}
		name := map[bool]string{false: "ours_stored.npz", true: "ours_deflated.npz"}[compress]
		if err := WriteNPZ(filepath.Join(dir, name), arrays, compress); err != nil {
			t.Fatal(err)
		}
	}
	out := runPython(t, patternPy+`
import sys, os
d = sys.argv[1]
kinds = sys.argv[2].split(',')
arrays = {k: pattern(k, 15).reshape(3, 5) for k in kinds}
arrays['big_endian'] = pattern('f8', 15).reshape(3, 5).astype('>f8')
np.savez(os.path.join(d, 'numpy_stored.npz'), **arrays)
np.savez_compressed(os.path.join(d, 'numpy_deflated.npz'), **arrays)
for name in ('ours_stored.npz', 'ours_deflated.npz'):
    with np.load(os.path.join(d, name)) as z:
        assert sorted(z.files) == sorted(kinds), z.files
        for k in kinds:
            assert z[k].dtype == np.dtype(k) and np.array_equal(z[k], arrays[k]), k
print('numpy ok')
`, dir, strings.Join(kindCodes(), ","))
	if !strings.Contains(out, "numpy ok") {
		t.Fatal(out)
	}
	for _, name := range []string{"numpy_stored.npz", "numpy_deflated.npz"} {
		got, err := ReadNPZ(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(numpyKinds)+1 {
			t.Fatalf("%s: %d arrays", name, len(got))
		}
		byName := map[string]*graph.Tensor{}
		for _, a := range got {
			byName[a.Name] = a
		}
		for _, k := range numpyKinds {
			checkPattern(t, name+":"+k.kind, byName[k.kind], k.dtype, []int64{3, 5})
		}
		checkPattern(t, name+":big_endian", byName["big_endian"], graph.Float64, []int64{3, 5})
	}
}

func kindCodes() []string {
	var out []string
	for _, k := range numpyKinds {
		out = append(out, k.kind)
	}
	return out
}

func TestReadNPZBadInput(t *testing.T) {
	dir := t.TempDir()
	notZip := filepath.Join(dir, "not_zip.npz")
	if err := os.WriteFile(notZip, []byte("plain text"), 0o644); err != nil {
		t.Fatal(err)
	}
	badEntry := filepath.Join(dir, "bad_entry.npz")
	f, err := os.Create(badEntry)
	if err != nil {
		t.Fatal(err)
	}
	zw := zip.NewWriter(f)
	w, _ := zw.Create("x.npy")
	w.Write([]byte("\x93NUMPY\x01\x00\x04\x00{}  "))
	zw.Close()
	f.Close()
	for path, want := range map[string]string{notZip: "not a .npz", badEntry: `"x.npy"`} {
		_, err := ReadNPZ(path)
		if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v should name the file and say %s", path, err, want)
		}
	}
}
