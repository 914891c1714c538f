package htmlreport

import (
	"fmt"
	"html/template"
	"io"
	"math"
	"strings"

	"github.com/onnxcompress/onnxcompress/graph"
)

// Render writes doc as one self-contained HTML page: inline CSS and SVG,
// no scripts, nothing fetched from the network.
func Render(w io.Writer, doc *Document) error {
	if doc == nil || doc.Structure == nil {
		return fmt.Errorf("htmlreport: no diff to render")
	}
	return page.Execute(w, view(doc))
}

type pageView struct {
	Doc       *Document
	Verdict   string
	VerdictOK bool
	Counts    []kindCount
	Numeric   *Numeric
	Charts    []template.HTML
	Rows      []tableRow
	Regions   []region
}

type kindCount struct {
	Kind  graph.ChangeKind
	Count int
}

type tableRow struct {
	Kind                   graph.ChangeKind
	Match                  graph.MatchKind
	Old, New               string
	Params, MACs           string
	Error                  string
	Notes                  string
	ParamsRatio, MACsRatio string
}

type region struct {
	Title string
	Note  string
	SVG   template.HTML
}

func view(doc *Document) pageView {
	d := doc.Structure
	v := pageView{Doc: doc, Numeric: doc.Numeric}
	switch {
	case doc.Identical && (doc.Equivalent == nil || *doc.Equivalent):
		v.Verdict, v.VerdictOK = "identical", true
	case doc.Equivalent != nil && *doc.Equivalent:
		v.Verdict, v.VerdictOK = "structurally different, numerically equivalent", true
	case doc.Equivalent != nil:
		v.Verdict = "different (outputs disagree beyond the tolerance)"
	default:
		v.Verdict = "different"
	}
	for _, k := range []graph.ChangeKind{graph.Unchanged, graph.Modified, graph.Replaced, graph.Removed, graph.Added} {
		v.Counts = append(v.Counts, kindCount{k, d.Count(k)})
	}
	errs := map[int]LayerError{}
	for _, e := range doc.LayerErrors {
		errs[e.Change] = e
	}
	var bars []barRow
	var errBars []barRow
	for i, c := range d.Changes {
		row := tableRow{Kind: c.Kind, Match: c.Match, Old: nodeList(c.Old), New: nodeList(c.New),
			Params: beforeAfter(c.ParamsBefore, c.ParamsAfter), MACs: beforeAfter(c.MACsBefore, c.MACsAfter)}
		var notes []string
		if c.Method != "" {
			notes = append(notes, strings.TrimSpace(c.Method+" "+c.Settings))
		}
		if c.WeightError != nil {
			notes = append(notes, fmt.Sprintf("weight error %.4g", *c.WeightError))
		}
		notes = append(notes, c.Details...)
		row.Notes = strings.Join(notes, "; ")
		if e, ok := errs[i]; ok {
			row.Error = fmt.Sprintf("%.4g", float64(e.RelL2))
		}
		v.Rows = append(v.Rows, row)
		if c.ParamsBefore > 0 || c.ParamsAfter > 0 || c.MACsBefore > 0 || c.MACsAfter > 0 {
			bars = append(bars, barRow{label: changeLabel(c), values: []float64{float64(c.ParamsBefore), float64(c.ParamsAfter),
				float64(c.MACsBefore), float64(c.MACsAfter)}})
		}
		if e, ok := errs[i]; ok || c.WeightError != nil {
			r := barRow{label: changeLabel(c), values: []float64{math.NaN(), math.NaN()}}
			if ok {
				r.values[0] = float64(e.RelL2)
			}
			if c.WeightError != nil {
				r.values[1] = *c.WeightError
			}
			errBars = append(errBars, r)
		}
		if c.Kind == graph.Replaced {
			title := nodeList(c.Old) + " → " + fmt.Sprintf("%d node(s)", len(c.New))
			note := row.Notes
			v.Regions = append(v.Regions, region{Title: title, Note: note, SVG: regionSVG(c)})
		}
	}
	if len(bars) > 0 {
		v.Charts = append(v.Charts,
			barChart("Parameters per layer", bars, 0, 1, "before", "after", true),
			barChart("MACs per layer", bars, 2, 3, "before", "after", true))
	}
	if len(errBars) > 0 {
		v.Charts = append(v.Charts, barChart("Error per changed layer (relative)", errBars, 0, 1,
			"output rel. L2 at the layer", "weight rel. error", false))
	}
	return v
}

func changeLabel(c graph.NodeChange) string {
	if len(c.Old) > 0 {
		return c.Old[0].Name
	}
	if len(c.New) > 0 {
		return c.New[0].Name
	}
	return "?"
}

func nodeList(ns []graph.NodeRef) string {
	var parts []string
	for _, n := range ns {
		parts = append(parts, n.Op+" "+n.Name)
	}
	if len(parts) > 4 {
		parts = append(parts[:3], fmt.Sprintf("… (%d more)", len(parts)-3))
	}
	return strings.Join(parts, ", ")
}

func beforeAfter(a, b int64) string {
	if a == b {
		if a == 0 {
			return ""
		}
		return fmt.Sprint(a)
	}
	s := fmt.Sprintf("%d → %d", a, b)
	if a > 0 {
		s += fmt.Sprintf(" (%.1f%%)", 100*float64(b)/float64(a))
	}
	return s
}

// Colours of the two series in every chart.
const (
	colourBefore = "#9aa5b1"
	colourAfter  = "#2b6cb0"
	colourError  = "#dd6b20"
	colourWeight = "#805ad5"
)

type barRow struct {
	label  string
	values []float64 // NaN: not measured
}

// barChart draws horizontal paired bars of values[i] and values[j] per row,
// on one linear scale.
func barChart(title string, rows []barRow, i, j int, nameI, nameJ string, counts bool) template.HTML {
	const labelW, barW, valueW, rowH = 190, 420, 150, 30
	width := labelW + barW + valueW
	height := 56 + rowH*len(rows)
	colI, colJ := colourBefore, colourAfter
	if !counts {
		colI, colJ = colourError, colourWeight
	}
	top := 0.0
	for _, r := range rows {
		for _, k := range []int{i, j} {
			if !math.IsNaN(r.values[k]) {
				top = math.Max(top, r.values[k])
			}
		}
	}
	if top <= 0 {
		top = 1
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart" xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" role="img" aria-label="%s">`,
		width, height, width, height, esc(title))
	fmt.Fprintf(&b, `<text x="0" y="16" class="ct">%s</text>`, esc(title))
	fmt.Fprintf(&b, `<rect x="%d" y="26" width="12" height="10" fill="%s"/><text x="%d" y="35" class="lg">%s</text>`, labelW, colI, labelW+16, esc(nameI))
	fmt.Fprintf(&b, `<rect x="%d" y="26" width="12" height="10" fill="%s"/><text x="%d" y="35" class="lg">%s</text>`, labelW+200, colJ, labelW+216, esc(nameJ))
	for n, r := range rows {
		y := 48 + n*rowH
		fmt.Fprintf(&b, `<text x="%d" y="%d" class="lb" text-anchor="end">%s</text>`, labelW-8, y+16, esc(shorten(r.label, 28)))
		for k, idx := range []int{i, j} {
			val := r.values[idx]
			col := colI
			if k == 1 {
				col = colJ
			}
			by := y + 3 + k*12
			if math.IsNaN(val) {
				fmt.Fprintf(&b, `<text x="%d" y="%d" class="vl">not measured</text>`, labelW+4, by+9)
				continue
			}
			wpx := val / top * barW
			if val > 0 && wpx < 1 {
				wpx = 1
			}
			fmt.Fprintf(&b, `<rect class="bar" x="%d" y="%d" width="%.1f" height="11" fill="%s"><title>%s: %s</title></rect>`,
				labelW, by, wpx, col, esc(r.label), formatValue(val, counts))
			fmt.Fprintf(&b, `<text x="%.1f" y="%d" class="vl">%s</text>`, float64(labelW)+wpx+4, by+9, formatValue(val, counts))
		}
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

func formatValue(v float64, counts bool) string {
	if counts {
		return fmt.Sprintf("%.0f", v)
	}
	return fmt.Sprintf("%.4g", v)
}

// regionSVG draws a replaced region: the old nodes on the left, the new
// chain on the right, each box with its op, name and output shape.
func regionSVG(c graph.NodeChange) template.HTML {
	const boxW, boxH, gap, colGap = 250, 46, 10, 90
	rows := max(len(c.Old), len(c.New))
	height := 24 + rows*(boxH+gap)
	width := 2*boxW + colGap
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="region" xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d">`, width, height, width, height)
	fmt.Fprintf(&b, `<text x="0" y="14" class="lg">before</text><text x="%d" y="14" class="lg">after</text>`, boxW+colGap)
	box := func(x, y int, n graph.NodeRef, fill string) {
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%d" height="%d" rx="5" fill="%s" stroke="#4a5568"/>`, x, y, boxW, boxH, fill)
		fmt.Fprintf(&b, `<text x="%d" y="%d" class="op">%s</text>`, x+8, y+17, esc(n.Op))
		fmt.Fprintf(&b, `<text x="%d" y="%d" class="nm">%s</text>`, x+8, y+34, esc(shorten(n.Name+"  "+outputShapes(n), 40)))
	}
	for k, n := range c.Old {
		box(0, 24+k*(boxH+gap), n, "#fed7d7")
	}
	for k, n := range c.New {
		y := 24 + k*(boxH+gap)
		box(boxW+colGap, y, n, "#c6f6d5")
		if k > 0 {
			x := boxW + colGap + boxW/2
			fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#4a5568"/>`, x, y-gap, x, y)
		}
	}
	midY := 24 + boxH/2
	fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#2d3748" stroke-width="2"/>`, boxW+8, midY, boxW+colGap-12, midY)
	fmt.Fprintf(&b, `<polygon points="%d,%d %d,%d %d,%d" fill="#2d3748"/>`, boxW+colGap-4, midY, boxW+colGap-14, midY-5, boxW+colGap-14, midY+5)
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

func outputShapes(n graph.NodeRef) string {
	var s []string
	for _, o := range n.Outputs {
		if o.Shape != "" {
			s = append(s, o.Shape)
		}
	}
	return strings.Join(s, " ")
}

func shorten(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

func esc(s string) string { return template.HTMLEscapeString(s) }

var page = template.Must(template.New("diff").Funcs(template.FuncMap{
	"clip": func(s string) string { return shorten(s, 240) },
	"pct":  func(x float64) string { return fmt.Sprintf("%.1f%%", 100*x) },
	"g4":   func(x Metric) string { return fmt.Sprintf("%.4g", float64(x)) },
	"g4p": func(x *float64) string {
		if x == nil {
			return "–"
		}
		return fmt.Sprintf("%.4g", *x)
	},
	"pctp": func(x *float64) string {
		if x == nil {
			return "–"
		}
		return fmt.Sprintf("%.2f%%", 100**x)
	},
}).Parse(pageTemplate))

const pageTemplate = `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>onnxcompress diff: {{.Doc.A}} vs {{.Doc.B}}</title>
<style>
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1a202c;margin:24px auto;max-width:1100px;padding:0 16px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #e2e8f0;padding-bottom:4px}
code{font:12px ui-monospace,monospace}
.verdict{display:inline-block;padding:3px 10px;border-radius:12px;font-weight:600;background:#fed7d7;color:#822727}
.verdict.ok{background:#c6f6d5;color:#22543d}
.cards{display:flex;flex-wrap:wrap;gap:12px;margin:14px 0}
.card{border:1px solid #e2e8f0;border-radius:8px;padding:10px 14px;min-width:170px}
.card b{display:block;font-size:18px}.card span{color:#4a5568;font-size:12px}
table{border-collapse:collapse;width:100%;font-size:12.5px}
th,td{border-bottom:1px solid #e2e8f0;padding:4px 6px;text-align:left;vertical-align:top;overflow-wrap:anywhere}
th{background:#f7fafc}
#graph-changes code{word-break:break-all}
td.num{text-align:right;white-space:nowrap}
td.tag{white-space:nowrap;overflow-wrap:normal}
tr.unchanged td{color:#718096}
tr.modified td:first-child{color:#975a16;font-weight:600}
tr.replaced td:first-child{color:#2b6cb0;font-weight:600}
tr.removed td:first-child{color:#c53030;font-weight:600}
tr.added td:first-child{color:#2f855a;font-weight:600}
svg text{font-family:system-ui,sans-serif}
svg .ct{font-size:14px;font-weight:600}svg .lg,svg .vl{font-size:11px;fill:#4a5568}svg .lb{font-size:11.5px}
svg .op{font-size:13px;font-weight:600}svg .nm{font-size:10.5px;fill:#4a5568}
.chart,.region{display:block;margin:10px 0}
.regionbox{border:1px solid #e2e8f0;border-radius:8px;padding:8px 12px;margin:10px 0}
.regionbox p{margin:2px 0;color:#4a5568;font-size:12px}
</style></head>
<body>
<h1>onnxcompress diff</h1>
<div><code>{{.Doc.A}}</code> → <code>{{.Doc.B}}</code></div>
<p><span class="verdict{{if .VerdictOK}} ok{{end}}" id="verdict">{{.Verdict}}</span>
{{range $k, $v := .Doc.InputShapes}} <code>{{$k}} {{$v}}</code>{{end}}</p>

<h2>Summary</h2>
<div class="cards" id="summary">
<div class="card"><span>parameters</span><b>{{.Doc.Structure.Before.Params}} → {{.Doc.Structure.After.Params}}</b><span>{{pct .Doc.ParamsRatio}} of before</span></div>
<div class="card"><span>MACs per sample</span><b>{{.Doc.Structure.Before.MACs}} → {{.Doc.Structure.After.MACs}}</b><span>{{pct .Doc.MACsRatio}} of before</span></div>
<div class="card"><span>weighted layers</span><b>{{.Doc.Structure.Before.Layers}} → {{.Doc.Structure.After.Layers}}</b><span>{{range .Counts}}{{.Count}} {{.Kind}} {{end}}</span></div>
{{with .Numeric}}
<div class="card"><span>output rel. L2 ({{.Source}}, {{.Samples}} sample{{if ne .Samples 1}}s{{end}})</span><b>{{g4 .RelL2}}</b><span>max abs {{g4 .MaxAbs}}, tol {{.Tol}}</span></div>
<div class="card"><span>top-1 agreement</span><b>{{pctp .Top1Agreement}}</b>{{if .AccuracyA}}<span>accuracy {{pctp .AccuracyA}} → {{pctp .AccuracyB}}</span>{{end}}</div>
{{end}}
</div>
{{with .Doc.NumericSkipped}}<p>Outputs not compared: {{.}}</p>{{end}}
{{with .Numeric}}
<table id="outputs"><tr><th>output (a)</th><th>output (b)</th><th>elements</th><th>max abs</th><th>rel. L2</th><th>top-1 agreement</th></tr>
{{range .Outputs}}<tr><td>{{.A}}</td><td>{{.B}}</td><td class="num">{{.Elements}}</td><td class="num">{{g4 .MaxAbs}}</td><td class="num">{{g4 .RelL2}}</td><td class="num">{{pctp .Top1Agreement}}</td></tr>
{{end}}</table>
{{end}}

{{if .Charts}}<h2>Per layer</h2>
<div id="charts">{{range .Charts}}{{.}}{{end}}</div>{{end}}

<h2>Changes</h2>
<table id="changes">
<tr><th>kind</th><th>match</th><th>old</th><th>new</th><th>params</th><th>MACs</th><th>rel. L2 at output</th><th>notes</th></tr>
{{range .Rows}}<tr class="{{.Kind}}"><td class="tag">{{.Kind}}</td><td class="tag">{{.Match}}</td><td>{{.Old}}</td><td>{{.New}}</td><td class="num">{{.Params}}</td><td class="num">{{.MACs}}</td><td class="num">{{.Error}}</td><td>{{.Notes}}</td></tr>
{{end}}</table>

{{if .Doc.Structure.GraphChanges}}<h2>Model-level changes</h2>
<table id="graph-changes"><tr><th>what</th><th>a</th><th>b</th></tr>
{{range .Doc.Structure.GraphChanges}}<tr><td>{{.What}}</td><td><code title="{{.Old}}">{{clip .Old}}</code></td><td><code title="{{.New}}">{{clip .New}}</code></td></tr>
{{end}}</table>{{end}}

{{if .Regions}}<h2>Replaced regions</h2>
{{range .Regions}}<div class="regionbox"><b>{{.Title}}</b><p>{{.Note}}</p>{{.SVG}}</div>
{{end}}{{end}}
</body></html>
`
