// Package testmodels builds the graphs onnxcompress is tested on: small
// classic networks (LeNet-5, VGG with BatchNorm, ResNet basic and bottleneck
// blocks, MobileNetV2, an MLP, a transformer block) and an edge-case zoo, one
// model per quirk compressors trip over (grouped, dilated, strided,
// asymmetrically or automatically padded and 1-D convolutions, Gemm
// attributes, N-D MatMul, shared weights, weights in Constant nodes or behind
// Identity). Every builder is seeded and deterministic; All lists them.
//
// It also bundles one real exporter-made model, LeNet-5 trained on
// Fashion-MNIST by fmnist/train_lenet.py (see BundledLeNetPath).
package testmodels
