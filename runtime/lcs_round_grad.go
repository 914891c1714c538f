package runtime

// Round backward is straight-through: the gradient passes unchanged. Round's
// true derivative is zero almost everywhere, which would stop all training
// through a fake quantizer (Round(x/s)·s, LCS's quantized regime); the
// straight-through estimator is what quantization-aware training uses.

func init() {
	registerBackward(passGradThrough, "Round")
}
