package dataset_test

import (
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/onnxcompress/onnxcompress/finetune/dataset"
	"github.com/onnxcompress/onnxcompress/graph"
)

func ExampleOpen() {
	dir, err := os.MkdirTemp("", "example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	// Four 1×2×2 uint8 images and their classes, as numpy.savez would store them.
	x := &graph.Tensor{Name: "x", DType: graph.Uint8, Dims: []int64{4, 1, 2, 2},
		Raw: []byte{0, 51, 102, 255, 10, 20, 30, 40, 1, 2, 3, 4, 5, 6, 7, 8}}
	y := graph.NewInt64("y", []int64{4}, []int64{1, 0, 1, 0})
	path := filepath.Join(dir, "data.npz")
	if err := dataset.WriteNPZ(path, []*graph.Tensor{x, y}, true); err != nil {
		log.Fatal(err)
	}

	d, err := dataset.Open(path, dataset.Options{Mean: []float32{0.5}, Std: []float32{0.5}})
	if err != nil {
		log.Fatal(err)
	}
	train, holdout, err := d.SplitHoldout(0.25, 1)
	if err != nil {
		log.Fatal(err)
	}
	batch := make([]float32, 1*d.SampleSize())
	if err := d.Batch([]int{0}, batch); err != nil {
		log.Fatal(err)
	}
	fmt.Println(d.Kind, d.N, d.Shape, d.Labels, d.NumClasses())
	fmt.Println(len(train), len(holdout))
	fmt.Printf("%.3f\n", batch) // (x/255 - 0.5) / 0.5
	// Output:
	// npz 4 [1 2 2] [1 0 1 0] 2
	// 3 1
	// [-1.000 -0.600 -0.200 1.000]
}
