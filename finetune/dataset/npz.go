package dataset

import (
	"archive/zip"
	"bufio"
	"fmt"
	"io"
	"strings"

	"github.com/onnxcompress/onnxcompress/graph"
)

// ReadNPZ reads every array of a .npz archive (numpy.savez or savez_compressed),
// in archive order. Each tensor is named by its key, the entry name without .npy.
func ReadNPZ(path string) ([]*graph.Tensor, error) {
	zr, err := zip.OpenReader(path)
	if err != nil {
		return nil, fmt.Errorf("%s: not a .npz archive: %w", path, err)
	}
	defer zr.Close()
	var out []*graph.Tensor
	seen := map[string]bool{}
	for _, f := range zr.File {
		key := strings.TrimSuffix(f.Name, ".npy")
		if seen[key] {
			return nil, fmt.Errorf("%s: array %q appears twice", path, key)
		}
		seen[key] = true
		t, err := readNPZEntry(f, path)
		if err != nil {
			return nil, err
		}
		t.Name = key
		out = append(out, t)
	}
	return out, nil
}

func readNPZEntry(f *zip.File, archive string) (*graph.Tensor, error) {
	rc, err := f.Open()
	if err != nil {
		return nil, fmt.Errorf("%s: entry %q: %w", archive, f.Name, err)
	}
	defer rc.Close()
	t, err := decodeNPY(bufio.NewReaderSize(rc, 1<<16), entrySize(f))
	if err != nil {
		return nil, fmt.Errorf("%s: entry %q: %w", archive, f.Name, err)
	}
	return t, nil
}

// WriteNPZ writes tensors as a .npz archive keyed by their names, deflated when
// compress is set (numpy.savez_compressed) and stored otherwise (numpy.savez).
func WriteNPZ(path string, tensors []*graph.Tensor, compress bool) error {
	seen := map[string]bool{}
	for _, t := range tensors {
		if t.Name == "" || seen[t.Name] {
			return fmt.Errorf("%s: array names must be unique and non-empty, got %q", path, t.Name)
		}
		seen[t.Name] = true
	}
	method := zip.Store
	if compress {
		method = zip.Deflate
	}
	return writeAtomically(path, func(w io.Writer) error {
		zw := zip.NewWriter(w)
		for _, t := range tensors {
			ew, err := zw.CreateHeader(&zip.FileHeader{Name: t.Name + ".npy", Method: method})
			if err != nil {
				return err
			}
			if err := EncodeNPY(ew, t); err != nil {
				return err
			}
		}
		return zw.Close()
	})
}

// entrySize is the entry's uncompressed size, which archive/zip enforces
// while reading, or -1 when it does not fit an int64.
func entrySize(f *zip.File) int64 {
	if f.UncompressedSize64 > 1<<62 {
		return -1
	}
	return int64(f.UncompressedSize64)
}
