// Package htmlreport holds the document `onnxcompress diff` produces
// (Document, whose JSON form is the stable `--json` schema) and renders it
// as one self-contained HTML page: a summary, per-layer bar charts of
// parameters, MACs and errors before and after, the table of changes, and a
// drawing of each replaced region. Charts are inline SVG; the page loads
// nothing from the network and runs no script.
package htmlreport
