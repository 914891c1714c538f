package htmlreport

import (
	"encoding/json"
	"math"

	"github.com/onnxcompress/onnxcompress/graph"
)

// SchemaVersion names the layout of Document; it changes only when a field
// changes meaning or disappears (new fields may be added).
const SchemaVersion = "onnxcompress.diff/v1"

// Document is everything `onnxcompress diff` found: what `--json` prints and
// what Render draws.
//
//	{
//	  "schema": "onnxcompress.diff/v1",
//	  "a": "orig.onnx", "b": "small.onnx",
//	  "input_shapes": {"input": "[1,1,28,28]"},   shapes the models were costed and probed at
//	  "identical": false,          no structural or model-level difference at all
//	  "equivalent": true,          outputs agree within numeric.tol (absent when not compared)
//	  "structure": {               graph.ModelDiff
//	    "changes": [{
//	      "kind": "unchanged|modified|removed|added|replaced",
//	      "match": "provenance|name|output-name|structure",
//	      "old": [{"name", "op", "outputs": [{"name", "dtype", "shape"}]}],
//	      "new": [... same ...],
//	      "method", "settings", "weight_error",     from onnxcompress provenance
//	      "details": ["attribute ...", "input 1 (W): shape [..] → [..]"],
//	      "params_before", "params_after", "macs_before", "macs_after",
//	      "outputs": [{"a": value in a, "b": value in b}]
//	    }],
//	    "graph_changes": [{"what": "opset ai.onnx", "old": "13", "new": "17"}],
//	    "before": {"layers", "params", "unique_params", "macs"},   graph.ModelCost totals
//	    "after":  {...}
//	  },
//	  "params_ratio": 0.49, "macs_ratio": 0.92,   after / before
//	  "numeric_skipped": "why",    only when the default probe could not run
//	  "numeric": {                 absent with --probe 0 and no --data
//	    "source": "probe|data", "probes": 1, "seed": 1, "data": "", "samples": 1,
//	    "tol": 1e-4,
//	    "outputs": [{"a", "b", "elements", "max_abs", "rel_l2", "top1_agreement"}],
//	    "max_abs", "rel_l2",       worst over the outputs
//	    "top1_agreement",          share of samples whose first output's argmax agrees
//	    "accuracy_a", "accuracy_b" top-1 accuracy against the labels (--data only)
//	  },
//	  "layer_errors": [{"change": index into structure.changes, "a", "b", "max_abs", "rel_l2"}]
//	}
//
// rel_l2 is ‖b − a‖₂ / ‖a‖₂ over all samples (a is the reference), max_abs
// is max |b − a|; both are null when not finite (outputs of other shapes, or
// NaN/Inf values). layer_errors measure a change's output value in both
// models on the same inputs (errors of earlier changes included, as in use).
type Document struct {
	Schema      string            `json:"schema"`
	A           string            `json:"a"`
	B           string            `json:"b"`
	InputShapes map[string]string `json:"input_shapes"`
	Identical   bool              `json:"identical"`
	Equivalent  *bool             `json:"equivalent,omitempty"`
	Structure   *graph.ModelDiff  `json:"structure"`
	ParamsRatio float64           `json:"params_ratio"`
	MACsRatio   float64           `json:"macs_ratio"`
	Numeric     *Numeric          `json:"numeric,omitempty"`
	// NumericSkipped says why the default probe did not run (e.g. an op
	// the runtime lacks); an explicit --probe, --data or --tol fails instead.
	NumericSkipped string       `json:"numeric_skipped,omitempty"`
	LayerErrors    []LayerError `json:"layer_errors,omitempty"`
}

// Numeric compares the two models' outputs on the same inputs.
type Numeric struct {
	Source  string  `json:"source"`
	Probes  int     `json:"probes,omitempty"`
	Seed    uint64  `json:"seed,omitempty"`
	Data    string  `json:"data,omitempty"`
	Samples int     `json:"samples"`
	Tol     float64 `json:"tol"`
	// Outputs pairs the models' outputs (by name, else by position).
	Outputs       []OutputComparison `json:"outputs"`
	MaxAbs        Metric             `json:"max_abs"`
	RelL2         Metric             `json:"rel_l2"`
	Top1Agreement *float64           `json:"top1_agreement,omitempty"`
	AccuracyA     *float64           `json:"accuracy_a,omitempty"`
	AccuracyB     *float64           `json:"accuracy_b,omitempty"`
}

// OutputComparison is one output of a against its counterpart in b.
type OutputComparison struct {
	A             string   `json:"a"`
	B             string   `json:"b"`
	Elements      int      `json:"elements"`
	MaxAbs        Metric   `json:"max_abs"`
	RelL2         Metric   `json:"rel_l2"`
	Top1Agreement *float64 `json:"top1_agreement,omitempty"`
}

// LayerError is the error at one change's output value.
type LayerError struct {
	Change int    `json:"change"`
	A      string `json:"a"`
	B      string `json:"b"`
	MaxAbs Metric `json:"max_abs"`
	RelL2  Metric `json:"rel_l2"`
}

// Metric is an error measure that may be infinite: JSON has no Inf or NaN,
// so a non-finite value is written as null and read back as +Inf.
type Metric float64

// MarshalJSON writes null for a non-finite value.
func (m Metric) MarshalJSON() ([]byte, error) {
	f := float64(m)
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return []byte("null"), nil
	}
	return json.Marshal(f)
}

// UnmarshalJSON reads null as +Inf.
func (m *Metric) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*m = Metric(math.Inf(1))
		return nil
	}
	var f float64
	if err := json.Unmarshal(b, &f); err != nil {
		return err
	}
	*m = Metric(f)
	return nil
}
