package htmlreport

import (
	"fmt"
	"math"
	"strings"
)

// CurvePlot is an accuracy-vs-size line plot (one line per series), drawn
// by SVG as a self-contained inline SVG document: training reports (LCS,
// hinge) write it beside their JSON.
type CurvePlot struct {
	Title  string        `json:"title"`
	XLabel string        `json:"x_label"` // e.g. "size (fraction of the dense model)"
	YLabel string        `json:"y_label"` // e.g. "top-1 accuracy"
	Series []CurveSeries `json:"series"`
	// Reference draws a dashed horizontal line (e.g. the original model's
	// accuracy) when not NaN.
	Reference      float64 `json:"reference"`
	ReferenceLabel string  `json:"reference_label,omitempty"`
}

// CurveSeries is one line of a CurvePlot.
type CurveSeries struct {
	Name   string       `json:"name"`
	Points []CurvePoint `json:"points"`
}

// CurvePoint is one measured model: X is its size, Y its accuracy, Label
// what produced it (a level, a ratio), shown as the point's tooltip.
type CurvePoint struct {
	X     float64 `json:"x"`
	Y     float64 `json:"y"`
	Label string  `json:"label,omitempty"`
}

// Plot geometry, in SVG user units.
const (
	curveWidth   = 640
	curveHeight  = 400
	curveLeft    = 64
	curveRight   = 160
	curveTop     = 36
	curveBottom  = 52
	curveTicks   = 5
	curveMarkerR = 3
)

// curveColors are told apart by colour-blind readers (Okabe–Ito).
var curveColors = []string{"#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000"}

// SVG draws the plot. Non-finite points are left out; axes span the finite
// data (and the reference line), padded by 5%.
func (p CurvePlot) SVG() string {
	xmin, xmax, ymin, ymax := math.Inf(1), math.Inf(-1), math.Inf(1), math.Inf(-1)
	finite := func(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
	for _, s := range p.Series {
		for _, pt := range s.Points {
			if finite(pt.X) && finite(pt.Y) {
				xmin, xmax = math.Min(xmin, pt.X), math.Max(xmax, pt.X)
				ymin, ymax = math.Min(ymin, pt.Y), math.Max(ymax, pt.Y)
			}
		}
	}
	if finite(p.Reference) {
		ymin, ymax = math.Min(ymin, p.Reference), math.Max(ymax, p.Reference)
	}
	if xmin > xmax {
		xmin, xmax, ymin, ymax = 0, 1, 0, 1
	}
	pad := func(lo, hi float64) (float64, float64) {
		if hi-lo < 1e-12 {
			return lo - 0.5, hi + 0.5
		}
		d := 0.05 * (hi - lo)
		return lo - d, hi + d
	}
	xmin, xmax = pad(xmin, xmax)
	ymin, ymax = pad(ymin, ymax)
	plotW, plotH := float64(curveWidth-curveLeft-curveRight), float64(curveHeight-curveTop-curveBottom)
	px := func(x float64) float64 { return curveLeft + (x-xmin)/(xmax-xmin)*plotW }
	py := func(y float64) float64 { return curveTop + (ymax-y)/(ymax-ymin)*plotH }

	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n",
		curveWidth, curveHeight, curveWidth, curveHeight)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="white"/>`+"\n", curveWidth, curveHeight)
	fmt.Fprintf(&b, `<text x="%d" y="20" font-size="14" font-weight="bold">%s</text>`+"\n", curveLeft, esc(p.Title))
	// Axes, grid and ticks.
	fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%s" height="%s" fill="none" stroke="#444"/>`+"\n", curveLeft, curveTop, num(plotW), num(plotH))
	for i := 0; i <= curveTicks; i++ {
		f := float64(i) / curveTicks
		x, y := xmin+f*(xmax-xmin), ymin+f*(ymax-ymin)
		fmt.Fprintf(&b, `<line x1="%s" y1="%d" x2="%s" y2="%d" stroke="#ddd"/>`+"\n", num(px(x)), curveTop, num(px(x)), curveHeight-curveBottom)
		fmt.Fprintf(&b, `<text x="%s" y="%d" text-anchor="middle">%s</text>`+"\n", num(px(x)), curveHeight-curveBottom+16, tick(x, xmax-xmin))
		fmt.Fprintf(&b, `<line x1="%d" y1="%s" x2="%d" y2="%s" stroke="#ddd"/>`+"\n", curveLeft, num(py(y)), curveWidth-curveRight, num(py(y)))
		fmt.Fprintf(&b, `<text x="%d" y="%s" text-anchor="end">%s</text>`+"\n", curveLeft-6, num(py(y)+4), tick(y, ymax-ymin))
	}
	fmt.Fprintf(&b, `<text x="%s" y="%d" text-anchor="middle">%s</text>`+"\n", num(curveLeft+plotW/2), curveHeight-12, esc(p.XLabel))
	fmt.Fprintf(&b, `<text x="16" y="%s" text-anchor="middle" transform="rotate(-90 16 %s)">%s</text>`+"\n",
		num(curveTop+plotH/2), num(curveTop+plotH/2), esc(p.YLabel))
	legendY := curveTop + 8
	if finite(p.Reference) {
		fmt.Fprintf(&b, `<line x1="%d" y1="%s" x2="%d" y2="%s" stroke="#888" stroke-dasharray="5 4"/>`+"\n",
			curveLeft, num(py(p.Reference)), curveWidth-curveRight, num(py(p.Reference)))
		if p.ReferenceLabel != "" {
			fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#888" stroke-dasharray="5 4"/>`+"\n",
				curveWidth-curveRight+10, legendY, curveWidth-curveRight+30, legendY)
			fmt.Fprintf(&b, `<text x="%d" y="%d">%s</text>`+"\n", curveWidth-curveRight+36, legendY+4, esc(p.ReferenceLabel))
			legendY += 18
		}
	}
	for i, s := range p.Series {
		color := curveColors[i%len(curveColors)]
		var pts []string
		var marks strings.Builder
		for _, pt := range s.Points {
			if !finite(pt.X) || !finite(pt.Y) {
				continue
			}
			pts = append(pts, num(px(pt.X))+","+num(py(pt.Y)))
			tip := fmt.Sprintf("%s: size %s, accuracy %s", s.Name, tick(pt.X, 0), tick(pt.Y, 0))
			if pt.Label != "" {
				tip = pt.Label + " — " + tip
			}
			fmt.Fprintf(&marks, `<circle cx="%s" cy="%s" r="%d" fill="%s"><title>%s</title></circle>`+"\n",
				num(px(pt.X)), num(py(pt.Y)), curveMarkerR, color, esc(tip))
		}
		if len(pts) > 1 {
			fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="2" points="%s"/>`+"\n", color, strings.Join(pts, " "))
		}
		b.WriteString(marks.String())
		fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" stroke-width="2"/>`+"\n",
			curveWidth-curveRight+10, legendY, curveWidth-curveRight+30, legendY, color)
		fmt.Fprintf(&b, `<text x="%d" y="%d">%s</text>`+"\n", curveWidth-curveRight+36, legendY+4, esc(shorten(s.Name, 18)))
		legendY += 18
	}
	b.WriteString("</svg>\n")
	return b.String()
}

// num writes a coordinate with two decimals (stable output for diffs).
func num(v float64) string { return fmt.Sprintf("%.2f", v) }

// tick writes an axis value with enough digits for the axis' span.
func tick(v, span float64) string {
	digits := 3
	if span > 0 {
		digits = max(0, min(6, int(math.Ceil(-math.Log10(span/curveTicks)))+1))
	}
	if math.Abs(v) < 0.5*math.Pow(10, -float64(digits)) {
		v = 0 // not "-0.00"
	}
	return fmt.Sprintf("%.*f", digits, v)
}
