package onnxcompress_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/onnxcompress/onnxcompress"
)

// IsBadInput separates what the caller gave wrong (exit 2 on the command
// line) from trouble while working (exit 1).
func TestIsBadInputSeparatesInputFromFailure(t *testing.T) {
	dir := t.TempDir()
	junk := filepath.Join(dir, "junk.onnx")
	if err := os.WriteFile(junk, []byte{0xff, 0xff, 0xff}, 0o644); err != nil {
		t.Fatal(err)
	}
	_, loadErr := onnxcompress.Load(junk)
	m := loadLeNet(t)
	_, methodErr := onnxcompress.Compress(context.Background(), m, onnxcompress.CompressOptions{
		Options: onnxcompress.Options{Method: "no-such-method", Target: onnxcompress.Target{Rank: 2}}})
	_, shapeErr := onnxcompress.ParseInputShapes([]string{"1,x"})
	_, dataErr := onnxcompress.OpenData(filepath.Join(dir, "absent"), m, onnxcompress.DataOptions{})
	for name, err := range map[string]error{"load": loadErr, "compress": methodErr, "shape": shapeErr, "data": dataErr} {
		if err == nil || !onnxcompress.IsBadInput(err) {
			t.Errorf("%s: %v is not bad input", name, err)
		}
	}
	// A folder where the output file should go is trouble while working.
	saveErr := onnxcompress.Save(filepath.Join(dir, "no-such-dir", "m.onnx"), m)
	if saveErr == nil || onnxcompress.IsBadInput(saveErr) {
		t.Errorf("save into a missing folder: %v", saveErr)
	}
}
