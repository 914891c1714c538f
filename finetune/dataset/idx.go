package dataset

import (
	"bufio"
	"compress/gzip"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/onnxcompress/onnxcompress/graph"
)

// IDX type codes (the third magic byte), as defined with the MNIST database.
var idxTypes = map[byte]graph.DType{
	0x08: graph.Uint8, 0x09: graph.Int8, 0x0B: graph.Int16,
	0x0C: graph.Int32, 0x0D: graph.Float32, 0x0E: graph.Float64,
}

// ReadIDX reads an IDX file, gzip-compressed or not (told by its content, not
// its name), into a little-endian tensor named after the file.
func ReadIDX(path string) (*graph.Tensor, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	limit := st.Size()
	var r io.Reader = bufio.NewReaderSize(f, 1<<16)
	if head, _ := r.(*bufio.Reader).Peek(2); len(head) == 2 && head[0] == 0x1f && head[1] == 0x8b {
		gz, err := gzip.NewReader(r)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		defer gz.Close()
		r = bufio.NewReaderSize(gz, 1<<16)
		limit = min(limit, (1<<62)/maxDeflateRatio) * maxDeflateRatio
	}
	t, err := decodeIDX(r, limit)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	t.Name = strings.TrimSuffix(filepath.Base(path), ".gz")
	return t, nil
}

// maxDeflateRatio bounds how much deflate can expand its input (about 1032:1),
// which bounds the size of a gzipped file's content.
const maxDeflateRatio = 1040

// decodeIDX reads IDX data from r, which holds at most limit bytes if limit ≥ 0.
func decodeIDX(r io.Reader, limit int64) (*graph.Tensor, error) {
	var magic [4]byte
	if _, err := io.ReadFull(r, magic[:]); err != nil {
		return nil, fmt.Errorf("not an IDX file: %w", noEOF(err))
	}
	dt, ok := idxTypes[magic[2]]
	if magic[0] != 0 || magic[1] != 0 || !ok || magic[3] == 0 {
		return nil, fmt.Errorf("not an IDX file: wrong magic % x", magic)
	}
	rank := int(magic[3])
	dimBytes := make([]byte, 4*rank)
	if _, err := io.ReadFull(r, dimBytes); err != nil {
		return nil, fmt.Errorf("truncated IDX header: %w", noEOF(err))
	}
	dims := make([]int64, rank)
	for i := range dims {
		dims[i] = int64(binary.BigEndian.Uint32(dimBytes[4*i:]))
	}
	n, err := graph.NumElements(dims)
	size := int64(dt.Size())
	if err != nil || n > (1<<62)/size {
		return nil, fmt.Errorf("IDX dimensions %v are too large", dims)
	}
	if limit >= 0 {
		limit = max(0, limit-4-4*int64(rank))
	}
	raw, err := readExactly(r, n*size, limit)
	if err != nil {
		return nil, fmt.Errorf("IDX %v %s: %w", dims, dt, err)
	}
	if err := expectEOF(r); err != nil {
		return nil, fmt.Errorf("after the IDX %v %s data: %w", dims, dt, err)
	}
	swapBytes(raw, int(size))
	return &graph.Tensor{DType: dt, Dims: dims, Raw: raw}, nil
}

// idxPair names the image and label files of one split in an MNIST-layout
// folder, accepting both "train-images-idx3-ubyte" and "train-images.idx3-ubyte",
// gzipped or not. labels is "" when the folder has none.
func idxPair(dir, split string) (images, labels string, err error) {
	prefix := map[string]string{"train": "train", "test": "t10k"}[split]
	if prefix == "" {
		return "", "", fmt.Errorf("%s: unknown split %q (want train or test)", dir, split)
	}
	images = findIDXFile(dir, prefix+"-images", "idx3-ubyte")
	if images == "" {
		return "", "", fmt.Errorf("%s: no %s-images-idx3-ubyte[.gz] file for split %q", dir, prefix, split)
	}
	return images, findIDXFile(dir, prefix+"-labels", "idx1-ubyte"), nil
}

func findIDXFile(dir, stem, kind string) string {
	for _, sep := range []string{"-", "."} {
		for _, ext := range []string{"", ".gz"} {
			p := filepath.Join(dir, stem+sep+kind+ext)
			if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() {
				return p
			}
		}
	}
	return ""
}

// hasIDXFiles tells whether dir looks like an MNIST-layout folder.
func hasIDXFiles(dir string) bool {
	for _, stem := range []string{"train-images", "t10k-images"} {
		if findIDXFile(dir, stem, "idx3-ubyte") != "" {
			return true
		}
	}
	return false
}

// readIDXPair loads an image file (N×H×W or N×C×H×W) and its optional label
// file (N), checking that they agree.
func readIDXPair(images, labels string) (x *graph.Tensor, y []int64, err error) {
	x, err = ReadIDX(images)
	if err != nil {
		return nil, nil, err
	}
	if r := len(x.Dims); r != 3 && r != 4 {
		return nil, nil, fmt.Errorf("%s: images must be N×H×W or N×C×H×W, got dims %v", images, x.Dims)
	}
	if labels == "" {
		return x, nil, nil
	}
	lt, err := ReadIDX(labels)
	if err != nil {
		return nil, nil, err
	}
	if len(lt.Dims) != 1 || lt.DType.IsFloat() {
		return nil, nil, fmt.Errorf("%s: labels must be a 1-D integer array, got %s %v", labels, lt.DType, lt.Dims)
	}
	if lt.Dims[0] != x.Dims[0] {
		return nil, nil, fmt.Errorf("%s: %d labels for %d images in %s", labels, lt.Dims[0], x.Dims[0], images)
	}
	y, err = lt.Int64s()
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", labels, err)
	}
	return x, y, nil
}
