package onnx

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// resnet18Export writes torchvision's ResNet-18 (random weights, eval mode,
// opset 13) as ONNX.
const resnet18Export = `
import sys, torch, torchvision
torch.set_num_threads(1)
torch.manual_seed(0)
m = torchvision.models.resnet18(weights=None).eval()
torch.onnx.export(m, torch.randn(1, 3, 224, 224), sys.argv[1], opset_version=13)
`

// resnet18 returns $ONNXCOMPRESS_RESNET18 when it names a file, else exports
// the model into dir with the system Python (the one with torch).
func resnet18(b *testing.B, dir string) string {
	if p := os.Getenv("ONNXCOMPRESS_RESNET18"); p != "" {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	path := filepath.Join(dir, "resnet18.onnx")
	cmd := exec.Command("/usr/bin/python3", "-c", resnet18Export, path)
	if out, err := cmd.CombinedOutput(); err != nil {
		if os.Getenv("CI") == "true" {
			b.Fatalf("exporting ResNet-18 with python3-torch: %v\n%s", err, out)
		}
		b.Skipf("cannot export ResNet-18 (python3-torch/torchvision missing?): %v\n%s", err, out)
	}
	return path
}

func BenchmarkReadWriteResNet18(b *testing.B) {
	dir := b.TempDir()
	path := resnet18(b, dir)
	st, err := os.Stat(path)
	if err != nil {
		b.Fatal(err)
	}
	out := filepath.Join(dir, "out.onnx")
	m, err := Read(path)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("read", func(b *testing.B) {
		b.SetBytes(st.Size())
		for b.Loop() {
			if _, err := Read(path); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("write", func(b *testing.B) {
		b.SetBytes(st.Size())
		for b.Loop() {
			if err := Write(out, m); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("read+write", func(b *testing.B) {
		b.SetBytes(st.Size())
		for b.Loop() {
			m, err := Read(path)
			if err != nil {
				b.Fatal(err)
			}
			if err := Write(out, m); err != nil {
				b.Fatal(err)
			}
		}
	})
}
