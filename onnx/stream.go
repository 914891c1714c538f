package onnx

import (
	"errors"
	"fmt"
	"io"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	pb "github.com/onnxcompress/onnxcompress/onnx/onnxpb"
)

// Field numbers of the two fields the stream reader takes apart itself.
const (
	modelGraphField       protowire.Number = 7 // ModelProto.graph
	graphInitializerField protowire.Number = 5 // GraphProto.initializer
)

// mergeBatchBytes bounds the serialized fields gathered before they are
// merged into their message, so weights kept in Constant nodes do not make
// the reader hold the serialized form whole either.
const mergeBatchBytes = 1 << 20

// byteStream is what the stream reader reads from: a file through a
// bufio.Reader, or bytes already in memory.
type byteStream interface {
	io.Reader
	io.ByteReader
}

// protoStream unmarshals a ModelProto from a stream without holding its
// serialized form whole. The graph is walked field by field and each
// initializer is unmarshalled from its own bytes into a reused buffer, so
// reading a model costs the decoded model plus its largest tensor, not the
// file plus the decoded model. Every other field goes through
// proto.Unmarshal in order (merging, as the wire format defines repeated
// occurrences), so the result equals one proto.Unmarshal of the whole.
type protoStream struct {
	r       byteStream
	pos     int64
	scratch []byte // one initializer's bytes; unmarshalling copies out of it
}

// errTruncated is a length or value that runs past its message's end.
var errTruncated = errors.New("field runs past the end of its message")

// unmarshalModel reads a ModelProto of size bytes. Malformed content gives
// an *InputError; a failure to read gives the reader's error.
func unmarshalModel(r byteStream, size int64) (*pb.ModelProto, error) {
	s := &protoStream{r: r}
	mp := &pb.ModelProto{}
	initializer := func(end int64) error {
		tp := &pb.TensorProto{}
		if err := s.unmarshalNext(end, tp); err != nil {
			return err
		}
		mp.Graph.Initializer = append(mp.Graph.Initializer, tp)
		return nil
	}
	graph := func(end int64) error {
		if mp.Graph == nil {
			mp.Graph = &pb.GraphProto{}
		}
		return s.message(end, mp.Graph, func(num protowire.Number) func(int64) error {
			if num == graphInitializerField {
				return initializer
			}
			return nil
		})
	}
	err := s.message(size, mp, func(num protowire.Number) func(int64) error {
		if num == modelGraphField {
			return graph
		}
		return nil
	})
	if err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, errTruncated) || isProtoError(err) {
			return nil, &InputError{Err: fmt.Errorf("not a valid ONNX protobuf: %w", err)}
		}
		return nil, err
	}
	return mp, nil
}

// protoError marks what proto.Unmarshal or the walk found wrong in the content.
type protoError struct{ err error }

func (e protoError) Error() string { return e.err.Error() }
func (e protoError) Unwrap() error { return e.err }

func isProtoError(err error) bool {
	var pe protoError
	return errors.As(err, &pe)
}

var mergeOptions = proto.UnmarshalOptions{Merge: true}

// message merges the fields from the current position up to end into m.
// Each length-delimited field's number is offered to take; a handler it
// returns reads that field's payload (up to the end it is given) instead.
func (s *protoStream) message(end int64, m proto.Message, take func(num protowire.Number) func(end int64) error) error {
	var batch []byte
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		err := mergeOptions.Unmarshal(batch, m)
		batch = batch[:0]
		if err != nil {
			return protoError{err}
		}
		return nil
	}
	for s.pos < end {
		start := len(batch)
		var tag uint64
		var err error
		if batch, tag, err = s.varint(batch, end); err != nil {
			return err
		}
		num, typ := protowire.DecodeTag(tag)
		if typ != protowire.BytesType {
			if batch, err = s.value(batch, num, typ, end); err != nil {
				return err
			}
		} else {
			var n uint64
			if batch, n, err = s.varint(batch, end); err != nil {
				return err
			}
			if n > uint64(end-s.pos) {
				return errTruncated
			}
			fieldEnd := s.pos + int64(n)
			if handle := take(num); handle != nil {
				batch = batch[:start]
				if err := flush(); err != nil {
					return err
				}
				if err := handle(fieldEnd); err != nil {
					return err
				}
				if s.pos != fieldEnd {
					return errTruncated
				}
				continue
			}
			if batch, err = s.bytes(batch, int64(n)); err != nil {
				return err
			}
		}
		if len(batch) >= mergeBatchBytes {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	if s.pos != end {
		return errTruncated
	}
	return flush()
}

// unmarshalNext unmarshals the bytes up to end into m.
func (s *protoStream) unmarshalNext(end int64, m proto.Message) error {
	n := end - s.pos
	if int64(cap(s.scratch)) < n {
		s.scratch = make([]byte, 0, n)
	}
	buf, err := s.bytes(s.scratch[:0], n)
	if err != nil {
		return err
	}
	if err := (proto.UnmarshalOptions{}).Unmarshal(buf, m); err != nil {
		return protoError{err}
	}
	return nil
}

// varint reads one varint, appending its bytes as read to dst.
func (s *protoStream) varint(dst []byte, end int64) ([]byte, uint64, error) {
	var v uint64
	for i := 0; ; i++ {
		if s.pos >= end {
			return dst, 0, errTruncated
		}
		b, err := s.r.ReadByte()
		if err != nil {
			return dst, 0, unexpectedEOF(err)
		}
		s.pos++
		dst = append(dst, b)
		if i == 9 && b > 1 {
			return dst, 0, protoError{errors.New("varint overflows 64 bits")}
		}
		v |= uint64(b&0x7f) << (7 * i)
		if b < 0x80 {
			return dst, v, nil
		}
	}
}

// bytes reads n bytes, appending them to dst.
func (s *protoStream) bytes(dst []byte, n int64) ([]byte, error) {
	start := len(dst)
	dst = append(dst, make([]byte, n)...)
	if _, err := io.ReadFull(s.r, dst[start:]); err != nil {
		return dst, unexpectedEOF(err)
	}
	s.pos += n
	return dst, nil
}

// maxGroupDepth is proto.Unmarshal's default recursion limit.
const maxGroupDepth = 10000

// value reads the value of a field whose tag was just read, appending its
// bytes as read; a group is read up to its matching end.
func (s *protoStream) value(dst []byte, num protowire.Number, typ protowire.Type, end int64) ([]byte, error) {
	if typ != protowire.StartGroupType {
		return s.scalar(dst, num, typ, end)
	}
	open := []protowire.Number{num}
	for len(open) > 0 {
		var tag uint64
		var err error
		if dst, tag, err = s.varint(dst, end); err != nil {
			return dst, err
		}
		n, t := protowire.DecodeTag(tag)
		switch t {
		case protowire.EndGroupType:
			if n != open[len(open)-1] {
				return dst, protoError{fmt.Errorf("group %d ends as %d", open[len(open)-1], n)}
			}
			open = open[:len(open)-1]
		case protowire.StartGroupType:
			if len(open) >= maxGroupDepth {
				return dst, protoError{errors.New("groups nested too deeply")}
			}
			open = append(open, n)
		default:
			if dst, err = s.scalar(dst, n, t, end); err != nil {
				return dst, err
			}
		}
	}
	return dst, nil
}

// scalar reads a varint, fixed-size or length-delimited value, appending its
// bytes as read.
func (s *protoStream) scalar(dst []byte, num protowire.Number, typ protowire.Type, end int64) ([]byte, error) {
	switch typ {
	case protowire.VarintType:
		dst, _, err := s.varint(dst, end)
		return dst, err
	case protowire.Fixed32Type, protowire.Fixed64Type:
		n := int64(4)
		if typ == protowire.Fixed64Type {
			n = 8
		}
		if n > end-s.pos {
			return dst, errTruncated
		}
		return s.bytes(dst, n)
	case protowire.BytesType:
		dst, n, err := s.varint(dst, end)
		if err != nil {
			return dst, err
		}
		if n > uint64(end-s.pos) {
			return dst, errTruncated
		}
		return s.bytes(dst, int64(n))
	}
	return dst, protoError{fmt.Errorf("field %d has invalid wire type %d", num, typ)}
}

func unexpectedEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}
