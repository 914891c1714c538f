package runtime

//go:noescape
func biasActAVX512(n int, bias float32, src, dst *float32, relu bool)

//go:noescape
func maxAVX512(n int, a, b, dst *float32)

//go:noescape
func pairMaxAVX512(n int, src, dst *float32)

// biasRelu writes src + bias, then max(·, 0) when relu, into dst
// (len(dst) elements; dst may be src).
func biasRelu(dst, src []float32, bias float32, relu bool) {
	src = src[:len(dst)]
	if hasAVX512 && len(dst) > 0 {
		biasActAVX512(len(dst), bias, &src[0], &dst[0], relu)
		return
	}
	biasReluGo(dst, src, bias, relu)
}

// maxInto writes max(a[i], b[i]) into dst (len(dst) elements), NaN when
// either is NaN.
func maxInto(dst, a, b []float32) {
	a, b = a[:len(dst)], b[:len(dst)]
	if hasAVX512 && len(dst) > 0 {
		maxAVX512(len(dst), &a[0], &b[0], &dst[0])
		return
	}
	for i := range dst {
		dst[i] = max(a[i], b[i])
	}
}

// pairMax writes max(src[2i], src[2i+1]) into dst (len(dst) elements).
func pairMax(dst, src []float32) {
	src = src[:2*len(dst)]
	if hasAVX512 && len(dst) > 0 {
		pairMaxAVX512(len(dst), &src[0], &dst[0])
		return
	}
	for i := range dst {
		dst[i] = max(src[2*i], src[2*i+1])
	}
}
