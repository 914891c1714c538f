package graph

// Einsum subscripts and their shape inference; the cost model reuses the
// parser to count MACs.

import (
	"fmt"
	"sort"
)

// einsumTerm is one operand's subscripts: letters, with ellipsis marking
// where broadcast dimensions go (-1 when absent).
type einsumTerm struct {
	letters  []byte
	ellipsis int
}

func parseEinsumTerm(s string) (einsumTerm, error) {
	t := einsumTerm{ellipsis: -1}
	for i := 0; i < len(s); i++ {
		ch := s[i]
		switch {
		case ch == '.':
			if i+2 >= len(s) || s[i+1] != '.' || s[i+2] != '.' || t.ellipsis >= 0 {
				return t, fmt.Errorf("bad ellipsis in %q", s)
			}
			t.ellipsis = len(t.letters)
			i += 2
		case ch >= 'a' && ch <= 'z', ch >= 'A' && ch <= 'Z':
			t.letters = append(t.letters, ch)
		default:
			return t, fmt.Errorf("bad character %q in %q", ch, s)
		}
	}
	return t, nil
}

func parseEinsum(eq string) (ins []einsumTerm, out *einsumTerm, err error) {
	clean := make([]byte, 0, len(eq))
	for i := 0; i < len(eq); i++ {
		if eq[i] != ' ' {
			clean = append(clean, eq[i])
		}
	}
	s := string(clean)
	lhs, rhs, explicit := s, "", false
	for i := 0; i+1 < len(s); i++ {
		if s[i] == '-' && s[i+1] == '>' {
			lhs, rhs, explicit = s[:i], s[i+2:], true
			break
		}
	}
	start := 0
	for i := 0; i <= len(lhs); i++ {
		if i == len(lhs) || lhs[i] == ',' {
			t, err := parseEinsumTerm(lhs[start:i])
			if err != nil {
				return nil, nil, err
			}
			ins = append(ins, t)
			start = i + 1
		}
	}
	if explicit {
		t, err := parseEinsumTerm(rhs)
		if err != nil {
			return nil, nil, err
		}
		out = &t
	}
	return ins, out, nil
}

// einsumDims binds each letter to a dimension and the ellipsis to a
// broadcast shape, checking operand ranks.
func einsumDims(ins []einsumTerm, shapes []Shape) (map[byte]Dim, Shape, error) {
	dims := map[byte]Dim{}
	var ell Shape
	for k, t := range ins {
		s := shapes[k]
		nl := len(t.letters)
		if (t.ellipsis < 0 && len(s) != nl) || (t.ellipsis >= 0 && len(s) < nl) {
			return nil, nil, fmt.Errorf("operand %d of shape %v does not fit its %d subscripts", k, s, nl)
		}
		e := len(s) - nl
		for j, ch := range t.letters {
			pos := j
			if t.ellipsis >= 0 && j >= t.ellipsis {
				pos = j + e
			}
			d := s[pos]
			if old, ok := dims[ch]; ok {
				m, ok := broadcastDim(old, d)
				if !ok {
					return nil, nil, fmt.Errorf("subscript %c is %v in one operand and %v in another", ch, old, d)
				}
				dims[ch] = m
			} else {
				dims[ch] = d
			}
		}
		if t.ellipsis >= 0 {
			b, err := broadcastShapes(ell, s[t.ellipsis:t.ellipsis+e])
			if err != nil {
				return nil, nil, err
			}
			ell = b
		}
	}
	return dims, ell, nil
}

func inferEinsum(c *nodeCtx) ([]*ValueType, error) {
	elem := c.elem(0)
	ins, outTerm, err := parseEinsum(c.n.AttrString("equation", ""))
	if err != nil {
		return nil, err
	}
	if len(ins) != len(c.n.Inputs) {
		return nil, fmt.Errorf("equation has %d operands, node has %d inputs", len(ins), len(c.n.Inputs))
	}
	shapes := make([]Shape, len(ins))
	for i := range ins {
		s, ok := c.shape(i)
		if !ok {
			return one(elemType(elem))
		}
		shapes[i] = s
	}
	dims, ell, err := einsumDims(ins, shapes)
	if err != nil {
		return nil, err
	}
	if outTerm == nil {
		count := map[byte]int{}
		for _, t := range ins {
			for _, ch := range t.letters {
				count[ch]++
			}
		}
		t := einsumTerm{ellipsis: 0}
		for ch, n := range count {
			if n == 1 {
				t.letters = append(t.letters, ch)
			}
		}
		sort.Slice(t.letters, func(i, j int) bool { return t.letters[i] < t.letters[j] })
		outTerm = &t
	}
	var out Shape
	for j, ch := range outTerm.letters {
		if j == outTerm.ellipsis {
			out = append(out, ell...)
		}
		d, ok := dims[ch]
		if !ok {
			return nil, fmt.Errorf("output subscript %c appears in no operand", ch)
		}
		out = append(out, d)
	}
	if outTerm.ellipsis >= len(outTerm.letters) {
		out = append(out, ell...)
	}
	if out == nil {
		out = Shape{}
	}
	return one(tensorType(elem, out))
}
