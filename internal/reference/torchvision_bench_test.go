package reference

import (
	"testing"

	"github.com/onnxcompress/onnxcompress/graph"
)

// BenchmarkORTTorchvision reports ONNX Runtime's median single-image latency
// on each exported torchvision model, one intra-op thread (the figure the
// project's own runtime is compared with).
func BenchmarkORTTorchvision(b *testing.B) {
	Require(b, Torch, ORT)
	dir := b.TempDir()
	in := map[string]*graph.Tensor{"input": graph.NewFloat32("", []int64{1, 3, 224, 224}, make([]float32, 3*224*224))}
	for _, arch := range TorchvisionArchs {
		path, err := ExportTorchvision(dir, arch)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(arch, func(b *testing.B) {
			var median float64
			for range b.N {
				if median, err = BenchORT(path, in, 1, 20); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(median*1e3, "ort-ms/img")
		})
	}
}
