package onnx

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/onnxcompress/onnxcompress/graph"
	pb "github.com/onnxcompress/onnxcompress/onnx/onnxpb"
)

// modelWith wraps initializers in a one-node model (Identity of the first).
func modelWith(inits ...*pb.TensorProto) *pb.ModelProto {
	g := &pb.GraphProto{Name: proto.String("g"), Initializer: inits}
	if len(inits) > 0 {
		g.Node = []*pb.NodeProto{{Name: proto.String("id"), OpType: proto.String("Identity"), Input: []string{inits[0].GetName()}, Output: []string{"y"}}}
		g.Output = []*pb.ValueInfoProto{{Name: proto.String("y")}}
	}
	return &pb.ModelProto{
		IrVersion:   proto.Int64(8),
		OpsetImport: []*pb.OperatorSetIdProto{{Domain: proto.String(""), Version: proto.Int64(13)}},
		Graph:       g,
	}
}

func marshal(t testing.TB, m proto.Message) []byte {
	t.Helper()
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func decodeBytes(t testing.TB, b []byte) *pb.ModelProto {
	t.Helper()
	m := &pb.ModelProto{}
	if err := proto.Unmarshal(b, m); err != nil {
		t.Fatal(err)
	}
	return m
}

// roundTrip decodes mp through the IR and encodes it again.
func roundTrip(t testing.TB, mp *pb.ModelProto) (*graph.Model, *pb.ModelProto) {
	t.Helper()
	m, err := Decode(marshal(t, mp), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	out, err := Encode(m)
	if err != nil {
		t.Fatal(err)
	}
	return m, decodeBytes(t, out)
}

// writeModelFile stores a hand-made model proto as dir/model.onnx.
func writeModelFile(t testing.TB, dir string, mp *pb.ModelProto) string {
	t.Helper()
	path := filepath.Join(dir, "model.onnx")
	if err := os.WriteFile(path, marshal(t, mp), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// wantBadInput checks err is an InputError mentioning every part (file, tensor, node).
func wantBadInput(t *testing.T, err error, parts ...string) {
	t.Helper()
	if err == nil {
		t.Fatal("expected an error, got none")
	}
	if !errors.Is(err, ErrBadInput) {
		t.Errorf("error %q does not match ErrBadInput", err)
	}
	var ie *InputError
	if !errors.As(err, &ie) {
		t.Errorf("error %q is not an *InputError", err)
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Errorf("error %q does not mention %q", err, p)
		}
	}
}

// noTempFiles fails if a Write left a temporary file in dir.
func noTempFiles(t *testing.T, dir string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.Contains(e.Name(), ".tmp-") {
			t.Errorf("temporary file %s left behind", e.Name())
		}
	}
}
