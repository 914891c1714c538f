package onnx

import (
	"os"
	"testing"

	"google.golang.org/protobuf/proto"

	pb "github.com/onnxcompress/onnxcompress/onnx/onnxpb"
)

// FuzzDecode feeds arbitrary bytes to Decode and, when they parse, encodes
// the model again: neither may panic, and a decoded model must re-encode to
// an equal proto.
func FuzzDecode(f *testing.F) {
	paths := conformanceModels(f)
	for i := 0; i < len(paths); i += 23 {
		data, err := os.ReadFile(paths[i])
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := Decode(data, "")
		if err != nil {
			return
		}
		out, err := Encode(m)
		if err != nil {
			t.Fatalf("decoded model does not encode: %v", err)
		}
		want, got := &pb.ModelProto{}, &pb.ModelProto{}
		if err := proto.Unmarshal(data, want); err != nil {
			t.Fatal(err)
		}
		if err := proto.Unmarshal(out, got); err != nil {
			t.Fatal(err)
		}
		if !proto.Equal(want, got) {
			t.Fatal("round trip changed the model")
		}
	})
}
