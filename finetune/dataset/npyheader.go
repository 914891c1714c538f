package dataset

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/onnxcompress/onnxcompress/graph"
)

// npyHeader is what the Python dict literal at the start of a .npy file says.
type npyHeader struct {
	dtype     graph.DType
	bigEndian bool
	fortran   bool
	shape     []int64
}

// maxLiteralDepth bounds recursion so a hostile header cannot exhaust the stack.
const maxLiteralDepth = 8

// parseNPYHeader reads the dict literal written by numpy.lib.format, e.g.
// {'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }.
func parseNPYHeader(text string) (npyHeader, error) {
	p := &literalParser{s: text}
	v, err := p.value(0)
	if err != nil {
		return npyHeader{}, err
	}
	p.skipSpace()
	if p.i != len(p.s) {
		return npyHeader{}, fmt.Errorf("unexpected %q after the header dict", p.rest())
	}
	dict, ok := v.(pyDict)
	if !ok {
		return npyHeader{}, errors.New("header is not a dict")
	}
	var h npyHeader
	seen := map[string]bool{}
	for _, kv := range dict {
		key, ok := kv.key.(string)
		if !ok {
			return npyHeader{}, fmt.Errorf("header key %v is not a string", kv.key)
		}
		if seen[key] {
			return npyHeader{}, fmt.Errorf("header key %q repeated", key)
		}
		seen[key] = true
		switch key {
		case "descr":
			descr, ok := kv.val.(string)
			if !ok {
				return npyHeader{}, errors.New("descr is not a simple dtype string (structured arrays are not supported)")
			}
			if h.dtype, h.bigEndian, err = parseDescr(descr); err != nil {
				return npyHeader{}, err
			}
		case "fortran_order":
			b, ok := kv.val.(bool)
			if !ok {
				return npyHeader{}, fmt.Errorf("fortran_order is %v, not True or False", kv.val)
			}
			h.fortran = b
		case "shape":
			tup, ok := kv.val.(pyTuple)
			if !ok {
				return npyHeader{}, fmt.Errorf("shape is %v, not a tuple", kv.val)
			}
			h.shape = make([]int64, len(tup))
			for i, d := range tup {
				n, ok := d.(int64)
				if !ok || n < 0 {
					return npyHeader{}, fmt.Errorf("shape entry %v is not a non-negative integer", d)
				}
				h.shape[i] = n
			}
		default:
			return npyHeader{}, fmt.Errorf("unknown header key %q", key)
		}
	}
	for _, k := range []string{"descr", "fortran_order", "shape"} {
		if !seen[k] {
			return npyHeader{}, fmt.Errorf("header lacks %q", k)
		}
	}
	if _, err := graph.NumElements(h.shape); err != nil {
		return npyHeader{}, err
	}
	return h, nil
}

var descrKinds = map[string]graph.DType{
	"f2": graph.Float16, "f4": graph.Float32, "f8": graph.Float64,
	"i1": graph.Int8, "i2": graph.Int16, "i4": graph.Int32, "i8": graph.Int64,
	"u1": graph.Uint8, "u2": graph.Uint16, "u4": graph.Uint32, "u8": graph.Uint64,
	"b1": graph.Bool,
}

// parseDescr maps a numpy type string such as '<f4' or '|u1' to a dtype.
func parseDescr(descr string) (graph.DType, bool, error) {
	if len(descr) < 2 {
		return 0, false, fmt.Errorf("unsupported dtype %q", descr)
	}
	order, kind := descr[0], descr[1:]
	dt, ok := descrKinds[kind]
	if !ok {
		return 0, false, fmt.Errorf("unsupported dtype %q (want one of f2 f4 f8 i1 i2 i4 i8 u1 u2 u4 u8 b1)", descr)
	}
	switch order {
	case '<':
		return dt, false, nil
	case '>':
		return dt, true, nil
	case '|':
		if dt.Size() != 1 {
			return 0, false, fmt.Errorf("dtype %q: byte order '|' is only valid for 1-byte types", descr)
		}
		return dt, false, nil
	}
	return 0, false, fmt.Errorf("dtype %q: unknown byte order %q", descr, order)
}

// npyDescr is the inverse of parseDescr for little-endian output.
func npyDescr(dt graph.DType) (string, error) {
	for kind, d := range descrKinds {
		if d == dt {
			if dt.Size() == 1 {
				return "|" + kind, nil
			}
			return "<" + kind, nil
		}
	}
	return "", fmt.Errorf("dtype %s has no .npy equivalent", dt)
}

var pyWords = []struct {
	word string
	val  any
}{{"True", true}, {"False", false}, {"None", nil}}

type (
	pyTuple []any
	pyDict  []pyPair
	pyPair  struct{ key, val any }
)

// literalParser understands the subset of Python literals numpy writes:
// strings, integers (with a legacy L suffix), True/False/None, tuples, lists, dicts.
type literalParser struct {
	s string
	i int
}

func (p *literalParser) rest() string {
	r := p.s[p.i:]
	if len(r) > 20 {
		r = r[:20] + "…"
	}
	return r
}

func (p *literalParser) skipSpace() {
	for p.i < len(p.s) && strings.IndexByte(" \t\r\n", p.s[p.i]) >= 0 {
		p.i++
	}
}

func (p *literalParser) value(depth int) (any, error) {
	if depth > maxLiteralDepth {
		return nil, errors.New("header nests too deeply")
	}
	p.skipSpace()
	if p.i >= len(p.s) {
		return nil, errors.New("header ends early")
	}
	switch c := p.s[p.i]; {
	case c == '\'' || c == '"':
		return p.str(c)
	case c == '{':
		return p.dict(depth)
	case c == '(' || c == '[':
		return p.sequence(depth)
	case c == '-' || (c >= '0' && c <= '9'):
		return p.integer()
	}
	for _, w := range pyWords {
		if strings.HasPrefix(p.s[p.i:], w.word) {
			p.i += len(w.word)
			return w.val, nil
		}
	}
	return nil, fmt.Errorf("unexpected %q in header", p.rest())
}

func (p *literalParser) str(quote byte) (string, error) {
	p.i++
	start := p.i
	for p.i < len(p.s) {
		switch p.s[p.i] {
		case quote:
			s := p.s[start:p.i]
			p.i++
			return s, nil
		case '\\', '\n':
			return "", errors.New("escapes and newlines in header strings are not supported")
		}
		p.i++
	}
	return "", errors.New("unterminated string in header")
}

func (p *literalParser) integer() (int64, error) {
	start := p.i
	if p.s[p.i] == '-' {
		p.i++
	}
	for p.i < len(p.s) && p.s[p.i] >= '0' && p.s[p.i] <= '9' {
		p.i++
	}
	n, err := strconv.ParseInt(p.s[start:p.i], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("bad integer %q in header", p.s[start:p.i])
	}
	if p.i < len(p.s) && p.s[p.i] == 'L' {
		p.i++
	}
	return n, nil
}

// sequence parses a tuple or list; both become pyTuple.
func (p *literalParser) sequence(depth int) (pyTuple, error) {
	closer := byte(')')
	if p.s[p.i] == '[' {
		closer = ']'
	}
	p.i++
	out := pyTuple{}
	for {
		p.skipSpace()
		if p.i < len(p.s) && p.s[p.i] == closer {
			p.i++
			return out, nil
		}
		v, err := p.value(depth + 1)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
		if err := p.separator(closer); err != nil {
			return nil, err
		}
	}
}

func (p *literalParser) dict(depth int) (pyDict, error) {
	p.i++
	out := pyDict{}
	for {
		p.skipSpace()
		if p.i < len(p.s) && p.s[p.i] == '}' {
			p.i++
			return out, nil
		}
		k, err := p.value(depth + 1)
		if err != nil {
			return nil, err
		}
		p.skipSpace()
		if p.i >= len(p.s) || p.s[p.i] != ':' {
			return nil, errors.New("missing ':' in header dict")
		}
		p.i++
		v, err := p.value(depth + 1)
		if err != nil {
			return nil, err
		}
		out = append(out, pyPair{k, v})
		if err := p.separator('}'); err != nil {
			return nil, err
		}
	}
}

// separator consumes a ',' or stops before closer.
func (p *literalParser) separator(closer byte) error {
	p.skipSpace()
	if p.i >= len(p.s) {
		return errors.New("header ends early")
	}
	switch p.s[p.i] {
	case ',':
		p.i++
		return nil
	case closer:
		return nil
	}
	return fmt.Errorf("unexpected %q in header", p.rest())
}
