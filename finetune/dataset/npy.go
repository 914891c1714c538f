package dataset

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/onnxcompress/onnxcompress/graph"
)

// The typed array of this package is *graph.Tensor: a dtype, dims and
// little-endian C-order bytes, with Float32s/Int64s accessors. Arrays read from
// .npy files are converted to that layout whatever their byte order or memory
// order on disk.

var npyMagic = []byte("\x93NUMPY")

// maxNPYHeader bounds the header a reader accepts; numpy writes a few hundred bytes.
const maxNPYHeader = 1 << 20

// ReadNPY reads a .npy file. The tensor is named after the file (without .npy).
func ReadNPY(path string) (*graph.Tensor, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	t, err := decodeNPY(bufio.NewReaderSize(f, 1<<16), st.Size())
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	t.Name = strings.TrimSuffix(filepath.Base(path), ".npy")
	return t, nil
}

// DecodeNPY reads one .npy array from r, which must end with the array's data.
// name says where r comes from in errors and becomes the tensor's name.
func DecodeNPY(r io.Reader, name string) (*graph.Tensor, error) {
	t, err := decodeNPY(r, -1)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	t.Name = name
	return t, nil
}

// decodeNPY reads an array from r, which holds at most size bytes if size ≥ 0.
func decodeNPY(r io.Reader, size int64) (*graph.Tensor, error) {
	var pre [8]byte
	if _, err := io.ReadFull(r, pre[:]); err != nil {
		return nil, fmt.Errorf("not a .npy file: %w", noEOF(err))
	}
	if !bytes.Equal(pre[:6], npyMagic) {
		return nil, errors.New("not a .npy file: bad magic")
	}
	var lenField []byte
	switch major := pre[6]; major {
	case 1:
		lenField = make([]byte, 2)
	case 2, 3:
		lenField = make([]byte, 4)
	default:
		return nil, fmt.Errorf("unsupported .npy format version %d.%d", major, pre[7])
	}
	if _, err := io.ReadFull(r, lenField); err != nil {
		return nil, fmt.Errorf("truncated .npy header: %w", noEOF(err))
	}
	hlen := binary.LittleEndian.Uint32(append(lenField, 0, 0)) // 2-byte fields zero-extended
	if hlen > maxNPYHeader {
		return nil, fmt.Errorf(".npy header of %d bytes is implausibly long", hlen)
	}
	text := make([]byte, hlen)
	if _, err := io.ReadFull(r, text); err != nil {
		return nil, fmt.Errorf("truncated .npy header: %w", noEOF(err))
	}
	h, err := parseNPYHeader(string(text))
	if err != nil {
		return nil, fmt.Errorf("bad .npy header: %w", err)
	}
	n, _ := graph.NumElements(h.shape) // checked by parseNPYHeader
	elem := int64(h.dtype.Size())
	if n > (1<<62)/elem {
		return nil, fmt.Errorf("array of shape %v is too large", h.shape)
	}
	if size >= 0 {
		size = max(0, size-int64(len(pre)+len(lenField))-int64(hlen))
	}
	raw, err := readExactly(r, n*elem, size)
	if err != nil {
		return nil, fmt.Errorf("array of shape %v %s: %w", h.shape, h.dtype, err)
	}
	if err := expectEOF(r); err != nil {
		return nil, fmt.Errorf("after the %v %s array: %w", h.shape, h.dtype, err)
	}
	if h.bigEndian {
		swapBytes(raw, int(elem))
	}
	if h.dtype == graph.Bool {
		for i, b := range raw {
			if b != 0 {
				raw[i] = 1
			}
		}
	}
	if h.fortran && len(h.shape) > 1 {
		raw = fortranToC(raw, h.shape, int(elem))
	}
	return &graph.Tensor{DType: h.dtype, Dims: h.shape, Raw: raw}, nil
}

// readExactly reads n bytes from r, which holds at most limit bytes if
// limit ≥ 0. Within a known limit the buffer is allocated once; without one it
// grows as data arrives, so a header that promises terabytes costs nothing
// until the bytes are really there.
func readExactly(r io.Reader, n, limit int64) ([]byte, error) {
	if limit >= 0 && limit < n {
		return nil, fmt.Errorf("data truncated: at most %d of %d bytes", limit, n)
	}
	first := min(n, 1<<20)
	if limit >= 0 {
		first = n
	}
	buf := make([]byte, first)
	got := 0
	for {
		m, err := io.ReadFull(r, buf[got:])
		got += m
		if err != nil {
			return nil, fmt.Errorf("data truncated: %d of %d bytes", got, n)
		}
		if int64(got) == n {
			return buf, nil
		}
		buf = append(buf, make([]byte, min(n-int64(got), int64(len(buf))))...)
	}
}

// expectEOF checks that r ends cleanly (for compressed streams: with a good checksum).
func expectEOF(r io.Reader) error {
	var extra [1]byte
	n, err := io.ReadFull(r, extra[:])
	switch {
	case n > 0:
		return errors.New("unexpected bytes after the data")
	case err == io.EOF:
		return nil
	}
	return err
}

func noEOF(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return errors.New("file ends early")
	}
	return err
}

func swapBytes(raw []byte, size int) {
	if size == 1 {
		return
	}
	for i := 0; i+size <= len(raw); i += size {
		e := raw[i : i+size]
		for a, b := 0, size-1; a < b; a, b = a+1, b-1 {
			e[a], e[b] = e[b], e[a]
		}
	}
}

// fortranToC reorders column-major element data to row-major.
func fortranToC(raw []byte, shape []int64, size int) []byte {
	rank := len(shape)
	fStride := make([]int, rank)
	s := size
	for d := 0; d < rank; d++ {
		fStride[d] = s
		s *= int(shape[d])
	}
	out := make([]byte, len(raw))
	if len(raw) == 0 {
		return out
	}
	idx := make([]int, rank)
	src := 0
	for dst := 0; dst < len(out); dst += size {
		copy(out[dst:dst+size], raw[src:src+size])
		for d := rank - 1; d >= 0; d-- {
			idx[d]++
			src += fStride[d]
			if idx[d] < int(shape[d]) {
				break
			}
			src -= idx[d] * fStride[d]
			idx[d] = 0
		}
	}
	return out
}

// EncodeNPY writes t as a little-endian, C-order .npy array (format 1.0, or
// 2.0 when the header needs more than 64 KiB).
func EncodeNPY(w io.Writer, t *graph.Tensor) error {
	if err := t.Validate(); err != nil {
		return err
	}
	descr, err := npyDescr(t.DType)
	if err != nil {
		return fmt.Errorf("tensor %q: %w", t.Name, err)
	}
	var shape strings.Builder
	shape.WriteByte('(')
	for i, d := range t.Dims {
		if i > 0 {
			shape.WriteString(", ")
		}
		fmt.Fprintf(&shape, "%d", d)
	}
	if len(t.Dims) == 1 {
		shape.WriteByte(',')
	}
	shape.WriteByte(')')
	dict := fmt.Sprintf("{'descr': '%s', 'fortran_order': False, 'shape': %s, }", descr, shape.String())

	version, lenBytes := byte(1), 2
	if len(dict)+1+len(npyMagic)+2+2 > 0xffff {
		version, lenBytes = 2, 4
	}
	prefix := len(npyMagic) + 2 + lenBytes
	// numpy aligns the data to 64 bytes: pad with spaces, end with a newline.
	total := (prefix + len(dict) + 1 + 63) / 64 * 64
	header := make([]byte, total)
	copy(header, npyMagic)
	header[6], header[7] = version, 0
	hlen := total - prefix
	if lenBytes == 2 {
		binary.LittleEndian.PutUint16(header[8:], uint16(hlen))
	} else {
		binary.LittleEndian.PutUint32(header[8:], uint32(hlen))
	}
	n := copy(header[prefix:], dict)
	for i := prefix + n; i < total-1; i++ {
		header[i] = ' '
	}
	header[total-1] = '\n'
	if _, err := w.Write(header); err != nil {
		return err
	}
	_, err = w.Write(t.Raw)
	return err
}

// WriteNPY writes t to path through a temporary file, so a failed write never
// leaves a partial file behind.
func WriteNPY(path string, t *graph.Tensor) error {
	return writeAtomically(path, func(w io.Writer) error { return EncodeNPY(w, t) })
}

func writeAtomically(path string, write func(io.Writer) error) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	bw := bufio.NewWriterSize(f, 1<<16)
	err = write(bw)
	if err == nil {
		err = bw.Flush()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}
