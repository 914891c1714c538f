package runtime

// Stride-1 convolution without im2col. Copy the input into a zero-padded
// buffer whose rows are wp = padded width long, and number the output
// positions in that row length too (q = oh·wp + ow, the last kW-1 columns of
// each row being discarded). Kernel tap (ci, ki, kj) then reads, for output
// positions q…q+31, the 32 contiguous floats at ci·planeP + ki·dH·wp +
// kj·dW + q of the padded buffer: the GEMM's right-hand matrix exists
// already, each row a shifted view of the input, and the micro-kernel reads
// it in place through a table of row offsets. This saves writing and
// re-reading the K-times-larger im2col matrix, which cost as much as the
// multiplications on ResNet's 3×3 convolutions.

// shiftedPenalty is how many rows of a GEMM writing one im2col element costs:
// im2col wins only when the discarded columns of the shifted layout waste
// more than that (small images with wide kernels, e.g. LeNet's second conv).
const shiftedPenalty = 24

// useShiftedConv reports whether the shifted layout beats im2col for this
// window: stride 1, the backend's micro-kernel available, and fewer
// multiply-adds wasted than im2col's copy costs.
func useShiftedConv(w window, nb, mg int, packed packedGEMM) bool {
	if packed == nil || packed.packedPanelWidth() != kernelCols || w.sH != 1 || w.sW != 1 {
		return false
	}
	wp := w.inW + w.padL + w.padR
	shifted := nb * ceilDiv(w.outH*wp, kernelCols)
	im2col := ceilDiv(nb*w.outH*w.outW, kernelCols)
	rows := ceilDiv(mg, kernelRows) * kernelRows
	return shifted*rows <= im2col*(rows+shiftedPenalty)
}

func ceilDiv(a, b int) int { return (a + b - 1) / b }

// convShifted is conv2D for windows useShiftedConv accepts.
func convShifted(c *execContext, w window, group, nb, ch, m int, x, wt, bias, y []float32, act activation, packedW [][]float32) {
	cg, mg := ch/group, m/group
	inHW, outHW := w.inH*w.inW, w.outH*w.outW
	kk := cg * w.kH * w.kW
	hp, wp := w.inH+w.padT+w.padB, w.inW+w.padL+w.padR
	planeP := hp * wp
	panelsN := ceilDiv(w.outH*wp, kernelCols)
	panelsM := ceilDiv(mg, kernelRows)
	ldc := panelsN * kernelCols
	// The last panel runs past the last output position by up to 31
	// columns, and a row's last taps past the row by (kW-1)·dW.
	xpad := c.tempF32(cg*planeP + kernelCols + (w.kW-1)*w.dW)
	tmp := c.tempF32(panelsM * kernelRows * ldc)
	offs := c.tempI64(kk)
	for r := range offs {
		ci, tap := r/(w.kH*w.kW), r%(w.kH*w.kW)
		ki, kj := tap/w.kW, tap%w.kW
		offs[r] = int64(4 * (ci*planeP + ki*w.dH*wp + kj*w.dW))
	}
	clear(xpad)
	aps := make([][]float32, group)
	for g := range aps {
		if packedW != nil {
			aps[g] = packedW[g]
		} else {
			aps[g] = packWeights(wt[g*mg*kk:], mg, kk, kk)
		}
	}
	for n := 0; n < nb; n++ {
		for g := 0; g < group; g++ {
			src := x[(n*ch+g*cg)*inHW:][:cg*inHW]
			for ci := 0; ci < cg; ci++ {
				for ih := 0; ih < w.inH; ih++ {
					copy(xpad[ci*planeP+(ih+w.padT)*wp+w.padL:][:w.inW], src[ci*inHW+ih*w.inW:][:w.inW])
				}
			}
			ap := aps[g]
			for pc := 0; pc < kk; pc += blockK {
				kc := min(blockK, kk-pc)
				apBlock := ap[pc*panelsM*kernelRows:]
				blockOffs := offs[pc : pc+kc]
				c.parallel(panelsN, func(lo, hi int) {
					for jp := lo; jp < hi; jp++ {
						for ip := 0; ip < panelsM; ip++ {
							shiftedKernel(kc, apBlock[ip*kc*kernelRows:], xpad[jp*kernelCols:], blockOffs,
								tmp[ip*kernelRows*ldc+jp*kernelCols:], ldc, pc > 0)
						}
					}
				})
			}
			for o := 0; o < mg; o++ {
				var b float32
				if bias != nil {
					b = bias[g*mg+o]
				}
				act.biasActivateRows(y[(n*m+g*mg+o)*outHW:], w.outW, tmp[o*ldc:], wp, w.outH, w.outW, b)
			}
		}
	}
}
