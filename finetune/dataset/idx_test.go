package dataset

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// idxBytes builds an IDX file per the MNIST database's description: two zero
// bytes, a type code, the rank, big-endian uint32 dims, then the data.
func idxBytes(code byte, dims []uint32, data []byte) []byte {
	b := []byte{0, 0, code, byte(len(dims))}
	for _, d := range dims {
		b = binary.BigEndian.AppendUint32(b, d)
	}
	return append(b, data...)
}

func gzipped(t *testing.T, b []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(b)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func writeFile(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// writeMNISTFolder makes a tiny MNIST-layout folder: n images of 2×3 where
// pixel p of image i is 10*i+p, labels i%4.
func writeMNISTFolder(t *testing.T, dir, prefix string, n int, gz bool) {
	var pix, labels []byte
	for i := 0; i < n; i++ {
		for p := 0; p < 6; p++ {
			pix = append(pix, byte(10*i+p))
		}
		labels = append(labels, byte(i%4))
	}
	img := idxBytes(0x08, []uint32{uint32(n), 2, 3}, pix)
	lab := idxBytes(0x08, []uint32{uint32(n)}, labels)
	ext := ""
	if gz {
		img, lab, ext = gzipped(t, img), gzipped(t, lab), ".gz"
	}
	writeFile(t, filepath.Join(dir, prefix+"-images-idx3-ubyte"+ext), img)
	writeFile(t, filepath.Join(dir, prefix+"-labels-idx1-ubyte"+ext), lab)
}

func TestOpenIDXFolder(t *testing.T) {
	for _, gz := range []bool{false, true} {
		dir := t.TempDir()
		writeMNISTFolder(t, dir, "train", 5, gz)
		writeMNISTFolder(t, dir, "t10k", 3, gz)
		for split, n := range map[string]int{"": 5, "train": 5, "test": 3} {
			d, err := Open(dir, Options{Split: split, Scale: 1})
			if err != nil {
				t.Fatal(err)
			}
			if d.Kind != KindIDX || d.N != n || len(d.Labels) != n || !slices.Equal(d.Shape, []int{1, 2, 3}) {
				t.Fatalf("split %q: kind %s N %d shape %v labels %v", split, d.Kind, d.N, d.Shape, d.Labels)
			}
			dst := make([]float32, 6)
			if err := d.Batch([]int{n - 1}, dst); err != nil {
				t.Fatal(err)
			}
			for p, v := range dst {
				if v != float32(10*(n-1)+p) {
					t.Fatalf("split %q: pixel %d is %v", split, p, v)
				}
			}
			if d.Labels[n-1] != int64((n-1)%4) {
				t.Errorf("split %q: last label %d", split, d.Labels[n-1])
			}
		}
	}
}

func TestOpenIDXFileDirectly(t *testing.T) {
	dir := t.TempDir()
	writeMNISTFolder(t, dir, "t10k", 3, true)
	d, err := Open(filepath.Join(dir, "t10k-images-idx3-ubyte.gz"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if d.N != 3 || len(d.Labels) != 3 {
		t.Errorf("N %d labels %v", d.N, d.Labels)
	}
}

func TestIDXDottedNames(t *testing.T) {
	dir := t.TempDir()
	writeMNISTFolder(t, dir, "train", 2, false)
	for _, kind := range []string{"images-idx3-ubyte", "labels-idx1-ubyte"} {
		old := filepath.Join(dir, "train-"+kind)
		if err := os.Rename(old, strings.Replace(old, "s-idx", "s.idx", 1)); err != nil {
			t.Fatal(err)
		}
	}
	d, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if d.N != 2 || d.Labels == nil {
		t.Errorf("N %d labels %v", d.N, d.Labels)
	}
}

func TestIDXBadInput(t *testing.T) {
	pix := make([]byte, 4*6)
	good := idxBytes(0x08, []uint32{4, 2, 3}, pix)
	goodLabels := idxBytes(0x08, []uint32{4}, []byte{0, 1, 2, 3})
	cases := []struct {
		name           string
		images, labels []byte
		split          string
		blame          string // the file the error must name
		says           string
	}{
		{"truncated images", good[:len(good)-1], goodLabels, "", "train-images", "truncated"},
		{"truncated gzip", gzipped(t, good)[:len(gzipped(t, good))-4], goodLabels, "", "train-images", ""},
		{"gzip checksum", corruptCRC(gzipped(t, good)), goodLabels, "", "train-images", "checksum"},
		{"truncated header", good[:9], goodLabels, "", "train-images", "truncated"},
		{"wrong magic", append([]byte{0, 1}, good[2:]...), goodLabels, "", "train-images", "magic"},
		{"unknown type", idxBytes(0x07, []uint32{4, 2, 3}, pix), goodLabels, "", "train-images", "magic"},
		{"trailing bytes", append(append([]byte{}, good...), 0), goodLabels, "", "train-images", "after"},
		{"images not 3-D", idxBytes(0x08, []uint32{24}, pix), goodLabels, "", "train-images", "N×H×W"},
		{"count mismatch", good, idxBytes(0x08, []uint32{3}, []byte{0, 1, 2}), "", "train-labels", "3 labels for 4 images"},
		{"labels 2-D", good, idxBytes(0x08, []uint32{4, 1}, []byte{0, 1, 2, 3}), "", "train-labels", "1-D"},
		{"labels float", good, idxBytes(0x0D, []uint32{4}, make([]byte, 16)), "", "train-labels", "integer"},
		{"unknown split", good, goodLabels, "validation", "", "unknown split"},
		{"missing split", good, goodLabels, "test", "", "t10k-images"},
	}
	for _, c := range cases {
		dir := t.TempDir()
		images := filepath.Join(dir, "train-images-idx3-ubyte")
		labels := filepath.Join(dir, "train-labels-idx1-ubyte")
		writeFile(t, images, c.images)
		writeFile(t, labels, c.labels)
		_, err := Open(dir, Options{Split: c.split})
		if err == nil {
			t.Errorf("%s: accepted", c.name)
			continue
		}
		blame := dir
		if c.blame != "" {
			blame = map[string]string{"train-images": images, "train-labels": labels}[c.blame]
		}
		if !strings.Contains(err.Error(), blame) || !strings.Contains(err.Error(), c.says) {
			t.Errorf("%s: error %q should name %s and say %q", c.name, err, blame, c.says)
		}
	}
}

func TestReadIDXTypes(t *testing.T) {
	// 0x0B: big-endian int16 values -2 and 300.
	path := filepath.Join(t.TempDir(), "v.idx")
	writeFile(t, path, idxBytes(0x0B, []uint32{2}, []byte{0xff, 0xfe, 0x01, 0x2c}))
	x, err := ReadIDX(path)
	if err != nil {
		t.Fatal(err)
	}
	v, _ := x.Int64s()
	if len(v) != 2 || v[0] != -2 || v[1] != 300 {
		t.Errorf("got %v", v)
	}
}

func corruptCRC(gz []byte) []byte {
	gz[len(gz)-8] ^= 0xff
	return gz
}

func FuzzDecodeIDX(f *testing.F) {
	f.Add(idxBytes(0x08, []uint32{2, 2, 2}, make([]byte, 8)), int64(20))
	f.Add(idxBytes(0x0D, []uint32{1}, make([]byte, 4)), int64(-1))
	f.Fuzz(func(t *testing.T, b []byte, limit int64) {
		if limit >= 0 {
			limit = int64(len(b)) // a real file's size
		}
		got, err := decodeIDX(bytes.NewReader(b), limit)
		if err != nil {
			return
		}
		if err := got.Validate(); err != nil {
			t.Fatal(err)
		}
	})
}
