package runtime

//go:noescape
func winogradInputAVX512(r *float32, wp int, v *float32, stride, tW, tH int)

//go:noescape
func winogradOutputAVX512(prod *float32, stride int, y *float32, outW, cols, rows int, bias float32, relu bool)

//go:noescape
func winogradGradOutputAVX512(dy *float32, outW int, d *float32, stride, cols, rows int)
