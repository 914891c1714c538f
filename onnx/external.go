package onnx

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"google.golang.org/protobuf/proto"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"

	pb "github.com/onnxcompress/onnxcompress/onnx/onnxpb"
)

// externalRef is a parsed external_data entry list.
type externalRef struct {
	location string
	offset   int64
	length   int64 // -1: to the end of the file
}

func parseExternalRef(p *pb.TensorProto) (externalRef, error) {
	where := tensorWhere(p.GetName())
	ref := externalRef{length: -1}
	for _, kv := range p.ExternalData {
		switch kv.GetKey() {
		case "location":
			ref.location = kv.GetValue()
		case "offset", "length":
			n, err := strconv.ParseInt(kv.GetValue(), 10, 64)
			if err != nil || n < 0 {
				return ref, badInput(where, "external data %s %q is not a non-negative integer", kv.GetKey(), kv.GetValue())
			}
			if kv.GetKey() == "offset" {
				ref.offset = n
			} else {
				ref.length = n
			}
		}
	}
	if ref.location == "" {
		return ref, badInput(where, "external data without a location")
	}
	if !filepath.IsLocal(ref.location) {
		return ref, badInput(where, "external data location %q is outside the model's folder", ref.location)
	}
	return ref, nil
}

// externalReader reads tensor data from files in the model's folder, keeping
// each file open for the whole decode.
type externalReader struct {
	dir     string
	realDir string
	files   map[string]*os.File
}

func newExternalReader(dir string) *externalReader {
	return &externalReader{dir: dir, files: map[string]*os.File{}}
}

func (r *externalReader) close() {
	for _, f := range r.files {
		f.Close()
	}
}

// open resolves location inside the model's folder, refusing symbolic links
// that lead out of it.
func (r *externalReader) open(location, where string) (*os.File, error) {
	if f, ok := r.files[location]; ok {
		return f, nil
	}
	if r.dir == "" {
		return nil, badInput(where, "external data %q but no model folder to read it from", location)
	}
	if r.realDir == "" {
		real, err := filepath.EvalSymlinks(r.dir)
		if err != nil {
			return nil, fmt.Errorf("resolving model folder: %w", err)
		}
		r.realDir = real
	}
	real, err := filepath.EvalSymlinks(filepath.Join(r.dir, location))
	if err != nil {
		return nil, badInput(where, "external data file %q: %v", location, err)
	}
	rel, err := filepath.Rel(r.realDir, real)
	if err != nil || !filepath.IsLocal(rel) {
		return nil, badInput(where, "external data location %q resolves outside the model's folder", location)
	}
	f, err := os.Open(real)
	if err != nil {
		return nil, badInput(where, "external data file %q: %v", location, err)
	}
	r.files[location] = f
	return f, nil
}

// load reads a tensor's external bytes. With checkLen the stored length must
// equal want before anything is allocated.
func (r *externalReader) load(p *pb.TensorProto, want int64, checkLen bool) ([]byte, error) {
	where := tensorWhere(p.GetName())
	ref, err := parseExternalRef(p)
	if err != nil {
		return nil, err
	}
	f, err := r.open(ref.location, where)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, badInput(where, "external data %q is not a regular file", ref.location)
	}
	size := st.Size()
	if ref.offset > size {
		return nil, badInput(where, "external data offset %d beyond the %d bytes of %q", ref.offset, size, ref.location)
	}
	length := ref.length
	if length < 0 {
		length = size - ref.offset
	}
	if checkLen && length != want {
		return nil, badInput(where, "external data holds %d bytes, dims %v need %d", length, p.Dims, want)
	}
	if length > size-ref.offset {
		return nil, badInput(where, "external data [%d, +%d) runs past the %d bytes of %q", ref.offset, length, size, ref.location)
	}
	buf := make([]byte, length)
	if _, err := f.ReadAt(buf, ref.offset); err != nil && !(errors.Is(err, io.EOF) && length == 0) {
		return nil, badInput(where, "reading external data %q: %v", ref.location, err)
	}
	return buf, nil
}

// externalPlan collects the external data files a Write produces.
type externalPlan struct {
	files []*externalFile // in first-use order, for deterministic output
	byLoc map[string]*externalFile
}

type externalFile struct {
	location string
	chunks   []externalChunk
	pending  []pendingChunk // new tensors, placed after everything kept
}

type externalChunk struct {
	offset int64
	data   []byte
}

type pendingChunk struct {
	offset *pb.StringStringEntryProto
	data   []byte
}

// file returns the plan for location; spellings of one path share one plan.
func (pl *externalPlan) file(location string) *externalFile {
	location = filepath.Clean(location)
	if pl.byLoc == nil {
		pl.byLoc = map[string]*externalFile{}
	}
	f := pl.byLoc[location]
	if f == nil {
		f = &externalFile{location: location}
		pl.byLoc[location] = f
		pl.files = append(pl.files, f)
	}
	return f
}

// preserve places an unchanged tensor's data where its proto says it is. It
// declines (false) when that cannot be honoured: no explicit length, the
// model file's own name, or other bytes already claimed there.
func (pl *externalPlan) preserve(p *pb.TensorProto, data []byte, modelFile string) bool {
	ref, err := parseExternalRef(p)
	if err != nil || ref.length != int64(len(data)) || filepath.Clean(ref.location) == modelFile {
		return false
	}
	f := pl.file(ref.location)
	end := ref.offset + ref.length
	for _, c := range f.chunks {
		cend := c.offset + int64(len(c.data))
		if c.offset < end && ref.offset < cend && !(c.offset == ref.offset && bytes.Equal(c.data, data)) {
			return false
		}
	}
	f.chunks = append(f.chunks, externalChunk{offset: ref.offset, data: data})
	return true
}

// add moves p's data to location; the offset is fixed by finalize.
func (pl *externalPlan) add(location string, p *pb.TensorProto, data []byte) {
	offset := &pb.StringStringEntryProto{Key: proto.String("offset"), Value: proto.String("0")}
	p.RawData = nil
	p.DataLocation = pb.TensorProto_EXTERNAL.Enum()
	p.ExternalData = []*pb.StringStringEntryProto{
		{Key: proto.String("location"), Value: proto.String(location)},
		offset,
		{Key: proto.String("length"), Value: proto.String(strconv.Itoa(len(data)))},
	}
	f := pl.file(location)
	f.pending = append(f.pending, pendingChunk{offset: offset, data: data})
}

// finalize appends new tensors after the kept ones, aligned.
func (pl *externalPlan) finalize() {
	for _, f := range pl.files {
		var end int64
		for _, c := range f.chunks {
			end = max(end, c.offset+int64(len(c.data)))
		}
		for _, pc := range f.pending {
			off := (end + externalAlign - 1) / externalAlign * externalAlign
			pc.offset.Value = proto.String(strconv.FormatInt(off, 10))
			f.chunks = append(f.chunks, externalChunk{offset: off, data: pc.data})
			end = off + int64(len(pc.data))
		}
		f.pending = nil
	}
}

// writeFiles writes the data files and then the model, each through a synced
// temporary file renamed into place; on failure every temporary is removed.
func writeFiles(path string, model []byte, plan *externalPlan) (err error) {
	dir := filepath.Dir(path)
	type staged struct{ tmp, final string }
	var done []staged
	defer func() {
		if err != nil {
			for _, s := range done {
				os.Remove(s.tmp)
			}
		}
	}()
	for _, f := range plan.files {
		final := filepath.Join(dir, f.location)
		if err := os.MkdirAll(filepath.Dir(final), 0o755); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		chunks := slices.Clone(f.chunks)
		slices.SortStableFunc(chunks, func(a, b externalChunk) int { return cmp.Compare(a.offset, b.offset) })
		tmp, err := writeTemp(final, func(out *os.File) error {
			for _, c := range chunks {
				if _, err := out.WriteAt(c.data, c.offset); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("%s: writing external data: %w", path, err)
		}
		done = append(done, staged{tmp, final})
	}
	tmp, err := writeTemp(path, func(out *os.File) error {
		_, err := out.Write(model)
		return err
	})
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	done = append(done, staged{tmp, path})
	for i, s := range done {
		if err := os.Rename(s.tmp, s.final); err != nil {
			done = done[i:]
			return fmt.Errorf("%s: %w", path, err)
		}
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync() // best effort: makes the renames durable where the platform allows
		d.Close()
	}
	return nil
}

// writeTemp fills a new temporary file beside final and syncs it.
func writeTemp(final string, fill func(*os.File) error) (string, error) {
	f, err := os.CreateTemp(filepath.Dir(final), "."+filepath.Base(final)+".tmp-*")
	if err != nil {
		return "", err
	}
	err = fill(f)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(f.Name(), 0o644)
	}
	if err != nil {
		os.Remove(f.Name())
		return "", err
	}
	return f.Name(), nil
}
