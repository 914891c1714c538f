package onnxcompress

import (
	"fmt"

	"github.com/onnxcompress/onnxcompress/finetune/dataset"
	"github.com/onnxcompress/onnxcompress/graph"
)

// Dataset is labelled (or unlabelled) samples held in memory, normalised
// as DataOptions say.
type Dataset = dataset.Dataset

// DataOptions say which split to read and how to normalise the samples
// (x' = (x·Scale − Mean[c]) / Std[c]).
type DataOptions = dataset.Options

// OpenData reads a data set for m: a folder of IDX files (MNIST /
// Fashion-MNIST layout), an .npz with x and y, or a folder of images with
// one sub-folder per class. Images are loaded at the channels, height and
// width of m's single image input unless opts fix them. Errors are bad
// input (see IsBadInput).
func OpenData(path string, m *Model, opts DataOptions) (*Dataset, error) {
	if ins := graph.RealInputs(m.Graph); len(ins) == 1 && ins[0].Type != nil && opts.Channels == 0 {
		if s := ins[0].Type.Shape; len(s) == 4 && s[1].Known() && s[2].Known() && s[3].Known() {
			opts.Channels, opts.Height, opts.Width = int(s[1].Value), int(s[2].Value), int(s[3].Value)
		}
	}
	d, err := dataset.Open(path, opts)
	if err != nil {
		return nil, badInput(err)
	}
	return d, nil
}

// ReadNPY reads a NumPy .npy array as a tensor named after nothing.
func ReadNPY(path string) (*Tensor, error) {
	t, err := dataset.ReadNPY(path)
	if err != nil {
		return nil, badInput(err)
	}
	return t, nil
}

// WriteNPY writes t as a NumPy .npy array, atomically.
func WriteNPY(path string, t *Tensor) error { return dataset.WriteNPY(path, t) }

// WriteNPZ writes the factors as an uncompressed NumPy .npz archive, one
// array per factor under its name.
func (r *ApproxResult) WriteNPZ(path string) error {
	if r == nil || len(r.Factors) == 0 {
		return fmt.Errorf("%s: no factors to write", path)
	}
	return dataset.WriteNPZ(path, r.Factors, false)
}

// OpenSplits reads the train split of the data at path for m and, when the
// data has a separate labelled test split, the test split; test is nil
// otherwise (an .npz with only x and y, an image folder).
func OpenSplits(path string, m *Model, opts DataOptions) (train, test *Dataset, err error) {
	opts.Split = "train"
	if train, err = OpenData(path, m, opts); err != nil {
		return nil, nil, err
	}
	opts.Split = "test"
	test, err = OpenData(path, m, opts)
	if err != nil || test.Labels == nil || test.Path == train.Path && test.N == train.N && train.Kind != dataset.KindIDX {
		return train, nil, nil
	}
	return train, test, nil
}
