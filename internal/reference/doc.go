// Package reference is the test harness around the real reference components
// that onnxcompress checks itself against: ONNX Runtime (onnxruntime-node,
// driven by ort_run.js), the ONNX checker and PyTorch/torchvision (Debian's
// /usr/bin/python3), the ONNX backend conformance data and Fashion-MNIST.
//
// Tests call Require first: when a component is missing the test fails under
// CI=true and is skipped otherwise, with the command that installs it.
package reference
