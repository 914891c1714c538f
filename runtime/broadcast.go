package runtime

import "fmt"

// broadcastShapes is numpy's multidirectional broadcast of shapes.
func broadcastShapes(shapes ...[]int) ([]int, error) {
	r := 0
	for _, s := range shapes {
		r = max(r, len(s))
	}
	out := make([]int, r)
	for i := range out {
		out[i] = 1
	}
	for _, s := range shapes {
		off := r - len(s)
		for i, d := range s {
			switch o := out[off+i]; {
			case o == d || d == 1:
			case o == 1:
				out[off+i] = d
			default:
				return nil, fmt.Errorf("shapes %v do not broadcast", shapes)
			}
		}
	}
	return out, nil
}

// broadcastRuns walks an output of shape out whose elements combine the
// elements of inputs of shapes ins (each broadcastable to out). It calls fn
// once per contiguous run of output elements with, for each input, the
// offset of the run's first element and its stride along the run (0 when
// that input is broadcast along it, else 1). Adjacent dimensions are merged
// so runs are as long as the layouts allow.
func broadcastRuns(out []int, ins [][]int, fn func(o int, offs, strides []int, n int)) {
	r := len(out)
	k := len(ins)
	strides := make([][]int, k)
	for j, s := range ins {
		st := make([]int, r)
		acc := 1
		for i := len(s) - 1; i >= 0; i-- {
			if s[i] != 1 {
				st[r-len(s)+i] = acc
			}
			acc *= s[i]
		}
		strides[j] = st
	}
	dims := out
	// Merge dimension i into i+1 when every input is contiguous across them.
	mdims := []int{}
	mstr := make([][]int, k)
	for i := 0; i < r; i++ {
		if dims[i] == 1 {
			continue
		}
		if n := len(mdims); n > 0 {
			ok := true
			for j := range k {
				if mstr[j][n-1] != strides[j][i]*dims[i] {
					ok = false
					break
				}
			}
			if ok {
				mdims[n-1] *= dims[i]
				for j := range k {
					mstr[j][n-1] = strides[j][i]
				}
				continue
			}
		}
		mdims = append(mdims, dims[i])
		for j := range k {
			mstr[j] = append(mstr[j], strides[j][i])
		}
	}
	total := shapeSize(out)
	if total == 0 {
		return
	}
	offs := make([]int, k)
	inner := make([]int, k)
	if len(mdims) == 0 {
		fn(0, offs, inner, 1)
		return
	}
	last := len(mdims) - 1
	n := mdims[last]
	for j := range k {
		inner[j] = mstr[j][last]
	}
	idx := make([]int, last)
	for o := 0; o < total; o += n {
		fn(o, offs, inner, n)
		for d := last - 1; d >= 0; d-- {
			idx[d]++
			for j := range k {
				offs[j] += mstr[j][d]
			}
			if idx[d] < mdims[d] {
				break
			}
			for j := range k {
				offs[j] -= mstr[j][d] * mdims[d]
			}
			idx[d] = 0
		}
	}
}
