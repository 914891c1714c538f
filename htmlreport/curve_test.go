package htmlreport

import (
	"encoding/xml"
	"io"
	"math"
	"strconv"
	"strings"
	"testing"
)

func TestCurveSVGIsWellFormedAndPlacesPoints(t *testing.T) {
	p := CurvePlot{
		Title: "LeNet <LCS+P>", XLabel: "size", YLabel: "top-1",
		Series: []CurveSeries{
			{Name: "LCS+P", Points: []CurvePoint{{0.044, 0.80, "k=0.025"}, {0.5, 0.90, "k=0.5"}, {1, 0.91, "k=1"}, {math.NaN(), 0.5, "lost"}}},
			{Name: "TopK target", Points: []CurvePoint{{0.1, 0.70, ""}, {1, 0.905, ""}}},
		},
		Reference: 0.9122, ReferenceLabel: "original",
	}
	svg := p.SVG()
	dec := xml.NewDecoder(strings.NewReader(svg))
	circles, lines := 0, 0
	var cy []string
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("not well-formed XML: %v\n%s", err, svg)
		}
		if se, ok := tok.(xml.StartElement); ok {
			switch se.Name.Local {
			case "circle":
				circles++
				for _, a := range se.Attr {
					if a.Name.Local == "cy" {
						cy = append(cy, a.Value)
					}
				}
			case "polyline":
				lines++
			}
		}
	}
	if circles != 5 || lines != 2 {
		t.Errorf("%d points and %d lines, want 5 and 2", circles, lines)
	}
	// Higher accuracy is drawn higher (smaller y).
	y0, _ := strconv.ParseFloat(cy[0], 64)
	y1, _ := strconv.ParseFloat(cy[1], 64)
	if !(y0 > y1) {
		t.Errorf("accuracy 0.80 at y=%s, 0.90 at y=%s", cy[0], cy[1])
	}
	if !strings.Contains(svg, "LeNet &lt;LCS+P&gt;") || !strings.Contains(svg, "stroke-dasharray") {
		t.Error("title not escaped or reference line missing")
	}
	if strings.Contains(svg, ">-0.0") {
		t.Error("a tick reads -0")
	}
	if p.SVG() != svg {
		t.Error("not deterministic")
	}
	empty := CurvePlot{Reference: math.NaN()}.SVG()
	if err := xml.Unmarshal([]byte(empty), new(struct{})); err != nil {
		t.Errorf("empty plot: %v", err)
	}
}
