//go:build !amd64

package runtime

// The Winograd path runs only with the AVX-512 micro-kernel (useWinograd).

func winogradInputAVX512(r *float32, wp int, v *float32, stride, tW, tH int) {
	panic("runtime: no Winograd transforms on this architecture")
}

func winogradOutputAVX512(prod *float32, stride int, y *float32, outW, cols, rows int, bias float32, relu bool) {
	panic("runtime: no Winograd transforms on this architecture")
}

func winogradGradOutputAVX512(dy *float32, outW int, d *float32, stride, cols, rows int) {
	panic("runtime: no Winograd transforms on this architecture")
}
