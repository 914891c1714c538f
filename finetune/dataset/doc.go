// Package dataset reads the data onnxcompress fine-tunes, calibrates and
// evaluates on, and the arrays its command line exchanges.
//
// Sources: an MNIST-layout folder of IDX files (train-images-idx3-ubyte[.gz]
// and friends, split "train" or "test"), a .npz holding x and optionally y
// (or Keras-style x_train/y_train/x_test/y_test), a .npy holding x, or a folder
// of PNG/JPEG images with one sub-folder per class (torchvision's ImageFolder
// layout: classes sorted by name), resized bilinearly and centre-cropped.
//
// Open loads every sample into memory once, keeping 8-bit sources as bytes;
// Batch turns chosen samples into normalised float32 values,
// x' = (x·scale − mean[c]) / std[c], in NCHW order. Shuffle, Permute and
// SplitHoldout draw orders from a seeded PCG, so a seed fixes them everywhere.
//
// ReadNPY/WriteNPY and ReadNPZ/WriteNPZ convert between numpy files and
// *graph.Tensor, which is this package's typed array: any byte order and
// Fortran order on disk become little-endian C order in memory.
package dataset
