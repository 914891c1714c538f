//go:build !amd64

package runtime

// biasRelu writes src + bias, then max(·, 0) when relu, into dst.
func biasRelu(dst, src []float32, bias float32, relu bool) {
	biasReluGo(dst, src[:len(dst)], bias, relu)
}

// maxInto writes max(a[i], b[i]) into dst (len(dst) elements).
func maxInto(dst, a, b []float32) {
	a, b = a[:len(dst)], b[:len(dst)]
	for i := range dst {
		dst[i] = max(a[i], b[i])
	}
}

// pairMax writes max(src[2i], src[2i+1]) into dst (len(dst) elements).
func pairMax(dst, src []float32) {
	src = src[:2*len(dst)]
	for i := range dst {
		dst[i] = max(src[2*i], src[2*i+1])
	}
}
