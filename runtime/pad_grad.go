package runtime

// Pad backward: the index map of shape_grad.go, which also sums the
// gradient of elements reflect/edge modes read several times.

func init() {
	registerBackward(movementGrad(0), "Pad")
}
