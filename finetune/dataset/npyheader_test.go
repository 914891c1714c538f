package dataset

import (
	"slices"
	"testing"

	"github.com/onnxcompress/onnxcompress/graph"
)

func TestParseNPYHeaderAccepts(t *testing.T) {
	cases := []struct {
		text    string
		dtype   graph.DType
		big     bool
		fortran bool
		shape   []int64
	}{
		{"{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }        \n", graph.Float32, false, false, []int64{3, 4}},
		{"{'descr': '>i8', 'fortran_order': True, 'shape': (5,)}", graph.Int64, true, true, []int64{5}},
		{"{'descr': '|u1', 'fortran_order': False, 'shape': ()}", graph.Uint8, false, false, []int64{}},
		{`{"shape": (2L, 3L), "descr": "<f8", "fortran_order": False}`, graph.Float64, false, false, []int64{2, 3}},
		{"{'descr':'|b1','fortran_order':False,'shape':[0, 7],}", graph.Bool, false, false, []int64{0, 7}},
		{"{'descr': '<f2', 'fortran_order': False, 'shape': (1,1,1,1)}", graph.Float16, false, false, []int64{1, 1, 1, 1}},
	}
	for _, c := range cases {
		h, err := parseNPYHeader(c.text)
		if err != nil {
			t.Errorf("%q: %v", c.text, err)
			continue
		}
		if h.dtype != c.dtype || h.bigEndian != c.big || h.fortran != c.fortran || !slices.Equal(h.shape, c.shape) {
			t.Errorf("%q: got %+v", c.text, h)
		}
	}
}

func TestParseNPYHeaderRejects(t *testing.T) {
	for _, text := range []string{
		"",
		"[1, 2]",
		"{'descr': '<f4', 'fortran_order': False}",                                   // no shape
		"{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), 'extra': 1}",      // unknown key
		"{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (3,)}",    // repeated key
		"{'descr': '<c8', 'fortran_order': False, 'shape': (3,)}",                    // complex
		"{'descr': '|f4', 'fortran_order': False, 'shape': (3,)}",                    // '|' on a 4-byte type
		"{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (3,)}",           // structured
		"{'descr': '<f4', 'fortran_order': 0, 'shape': (3,)}",                        // not a bool
		"{'descr': '<f4', 'fortran_order': False, 'shape': (-3,)}",                   // negative
		"{'descr': '<f4', 'fortran_order': False, 'shape': (3.5,)}",                  // not an integer
		"{'descr': '<f4', 'fortran_order': False, 'shape': 3}",                       // not a tuple
		"{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,)}", // overflows int64
		"{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296, 4294967296)}",
		"{'descr': '<f4', 'fortran_order': False, 'shape': (3,)} trailing",
		"{'descr': '<f4 , 'fortran_order': False, 'shape': (3,)}",
		"{'descr': '<f4', 'fortran_order': False, 'shape': (((((((((((1,),),),),),),),),),),)}",
		"{'descr' '<f4'}",
		"{'descr': '<f4',",
	} {
		if h, err := parseNPYHeader(text); err == nil {
			t.Errorf("%q: accepted as %+v", text, h)
		}
	}
}

func FuzzParseNPYHeader(f *testing.F) {
	f.Add("{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }")
	f.Add("{'descr': '>u2', 'fortran_order': True, 'shape': (0,)}")
	f.Add(`{"descr": "|b1", "fortran_order": False, "shape": [2L]}`)
	f.Fuzz(func(t *testing.T, text string) {
		h, err := parseNPYHeader(text)
		if err != nil {
			return
		}
		if h.dtype.Size() == 0 {
			t.Fatalf("accepted dtype %s without a size", h.dtype)
		}
		if _, err := graph.NumElements(h.shape); err != nil {
			t.Fatalf("accepted shape %v: %v", h.shape, err)
		}
	})
}
