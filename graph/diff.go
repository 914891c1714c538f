package graph

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
)

// ChangeKind says what became of a node (or a group of nodes) between two
// models.
type ChangeKind string

const (
	// Unchanged: same op, attributes, constant inputs and wiring.
	Unchanged ChangeKind = "unchanged"
	// Modified: the same node (same op, paired by name or position) whose
	// attributes, constant inputs (weights) or wiring differ; Details say how.
	Modified ChangeKind = "modified"
	// Removed: nodes of the first model with no counterpart in the second.
	Removed ChangeKind = "removed"
	// Added: nodes of the second model with no counterpart in the first.
	Added ChangeKind = "added"
	// Replaced: old nodes whose work new nodes of another shape now do (a
	// rewrite's region, a node whose op changed, or a group of unmatched
	// nodes between the same neighbours).
	Replaced ChangeKind = "replaced"
)

// MatchKind says how a change's old and new nodes were paired, strongest
// evidence first.
type MatchKind string

const (
	// ByProvenance: onnxcompress's own record in the second model (the
	// "onnxcompress.rewrites" metadata or the nodes' doc_strings).
	ByProvenance MatchKind = "provenance"
	// ByName: equal node names.
	ByName MatchKind = "name"
	// ByOutputName: unnamed or renamed nodes writing the same value name.
	ByOutputName MatchKind = "output-name"
	// ByStructure: same op at the same place in the graph (inputs or
	// consumers already paired), or unmatched nodes between paired ones.
	ByStructure MatchKind = "structure"
)

// ProvenanceKey is the metadata_props key under which onnxcompress lists its
// rewrites, and ProvenancePrefix starts the doc_string of every node a
// rewrite emits.
const (
	ProvenanceKey    = "onnxcompress.rewrites"
	ProvenancePrefix = "onnxcompress: replaces "
)

// ModelDiff is the structural difference between two models: every node of
// both, grouped into changes, the cost of each side, and the model-level
// changes. It marshals to JSON as documented on each field.
type ModelDiff struct {
	// Changes lists every node of both models exactly once (unchanged ones
	// included), in an order that follows both graphs like a text diff.
	Changes []NodeChange `json:"changes"`
	// GraphChanges are model-level differences: IR version, producer,
	// opsets, graph inputs and outputs, metadata.
	GraphChanges []GraphChange `json:"graph_changes"`
	// Before and After are ModelCost totals of the two models.
	Before CostTotals `json:"before"`
	After  CostTotals `json:"after"`
}

// CostTotals is Totals with JSON names.
type CostTotals struct {
	Layers       int   `json:"layers"`
	Params       int64 `json:"params"`
	UniqueParams int64 `json:"unique_params"`
	MACs         int64 `json:"macs"`
}

// NodeChange is one node, or one region of nodes, and what became of it.
type NodeChange struct {
	Kind  ChangeKind `json:"kind"`
	Match MatchKind  `json:"match,omitempty"`
	// Old are the nodes in the first model, New in the second, each in its
	// model's node order; one of them is empty for Removed and Added.
	Old []NodeRef `json:"old"`
	New []NodeRef `json:"new"`
	// Method, Settings and WeightError come from onnxcompress provenance.
	Method      string   `json:"method,omitempty"`
	Settings    string   `json:"settings,omitempty"`
	WeightError *float64 `json:"weight_error,omitempty"`
	// Details say what differs in a Modified or Replaced pair.
	Details []string `json:"details,omitempty"`
	// Params and MACs of the weighted layers among Old and New (ModelCost
	// figures; a region's rows sum to the model totals).
	ParamsBefore int64 `json:"params_before"`
	ParamsAfter  int64 `json:"params_after"`
	MACsBefore   int64 `json:"macs_before"`
	MACsAfter    int64 `json:"macs_after"`
	// Outputs pairs the values the change hands to the rest of the graph:
	// where its result can be compared between the two models.
	Outputs []ValuePair `json:"outputs,omitempty"`
}

// NodeRef names one node and its output values with their types.
type NodeRef struct {
	Node    *Node      `json:"-"`
	Name    string     `json:"name"`
	Op      string     `json:"op"`
	Outputs []ValueRef `json:"outputs"`
}

// ValueRef is a value's name and, when known, its type.
type ValueRef struct {
	Name  string `json:"name"`
	DType string `json:"dtype,omitempty"`
	Shape string `json:"shape,omitempty"`
}

// ValuePair is a value of the first model and its counterpart in the second.
type ValuePair struct {
	A string `json:"a"`
	B string `json:"b"`
}

// GraphChange is one model-level difference; Old or New is empty when the
// item exists on one side only.
type GraphChange struct {
	What string `json:"what"`
	Old  string `json:"old"`
	New  string `json:"new"`
}

// Identical reports whether the diff found no difference at all.
func (d *ModelDiff) Identical() bool {
	if len(d.GraphChanges) > 0 {
		return false
	}
	for _, c := range d.Changes {
		if c.Kind != Unchanged {
			return false
		}
	}
	return true
}

// Count returns how many changes have kind k.
func (d *ModelDiff) Count(k ChangeKind) int {
	n := 0
	for _, c := range d.Changes {
		if c.Kind == k {
			n++
		}
	}
	return n
}

// Diff compares model a (before) with model b (after). Nodes are paired in
// rounds, strongest evidence first: onnxcompress provenance recorded in b,
// equal node names, equal output value names, then structure (same op
// reading paired values, or feeding paired consumers). Nodes left over are
// grouped into regions between paired neighbours: a region with nodes on
// both sides is Replaced, otherwise Removed or Added. Costs come from
// ModelCost, so run InferShapes on both models first to cost them at chosen
// input shapes. Neither model is changed.
func Diff(a, b *Model) *ModelDiff {
	d := newDiffer(a, b)
	d.pairByProvenance()
	d.pairByName(ByName, func(n *Node) string { return n.Name })
	d.pairByName(ByOutputName, firstOutputName)
	d.pairByStructure(false)
	d.linkPairedInputs()
	d.pairByStructure(true)
	d.groupLeftovers()
	return d.result()
}

type diffSide struct {
	m     *Model
	g     *Graph
	idx   *Index
	order map[*Node]int
	pair  map[*Node]*change // nil while unpaired
	cost  map[*Node]LayerCost
	tot   Totals
}

type change struct {
	kind     ChangeKind
	match    MatchKind
	old, new []*Node
	method   string
	settings string
	werr     *float64
	details  []string
	outputs  []ValuePair
}

type differ struct {
	a, b    *diffSide
	changes []*change
	ab, ba  map[*Value]*Value // value correspondence
}

func newSide(m *Model) *diffSide {
	s := &diffSide{m: m, g: m.Graph, order: map[*Node]int{}, pair: map[*Node]*change{}, cost: map[*Node]LayerCost{}}
	s.idx = NewIndex(s.g)
	for i, n := range s.g.Nodes {
		s.order[n] = i
	}
	layers, tot := ModelCost(m)
	for _, l := range layers {
		s.cost[l.Node] = l
	}
	s.tot = tot
	return s
}

func newDiffer(a, b *Model) *differ {
	d := &differ{a: newSide(a), b: newSide(b), ab: map[*Value]*Value{}, ba: map[*Value]*Value{}}
	d.matchInterface(RealInputs(d.a.g), RealInputs(d.b.g))
	d.matchInterface(d.a.g.Outputs, d.b.g.Outputs)
	bInits := map[string]*Value{}
	for _, v := range d.b.g.Initializers {
		bInits[v.Name] = v
	}
	for _, v := range d.a.g.Initializers {
		if w := bInits[v.Name]; w != nil {
			d.link(v, w)
		}
	}
	return d
}

// matchInterface pairs graph inputs or outputs by name, then the rest by
// position when both sides have the same number left.
func (d *differ) matchInterface(as, bs []*Value) {
	byName := map[string]*Value{}
	for _, v := range bs {
		if v != nil {
			byName[v.Name] = v
		}
	}
	var restA, restB []*Value
	for _, v := range as {
		if v == nil {
			continue
		}
		if w := byName[v.Name]; w != nil {
			d.link(v, w)
		} else {
			restA = append(restA, v)
		}
	}
	for _, v := range bs {
		if v != nil && d.ba[v] == nil {
			restB = append(restB, v)
		}
	}
	if len(restA) == len(restB) {
		for i := range restA {
			d.link(restA[i], restB[i])
		}
	}
}

// link records that va and vb carry the same data, unless either is linked.
func (d *differ) link(va, vb *Value) {
	if va == nil || vb == nil || d.ab[va] != nil || d.ba[vb] != nil {
		return
	}
	d.ab[va], d.ba[vb] = vb, va
}

func (d *differ) add(c *change) {
	for _, n := range c.old {
		d.a.pair[n] = c
	}
	for _, n := range c.new {
		d.b.pair[n] = c
	}
	d.changes = append(d.changes, c)
	if len(c.old) == 1 && len(c.new) == 1 && len(c.old[0].Outputs) == len(c.new[0].Outputs) {
		for i, v := range c.old[0].Outputs {
			d.link(v, c.new[0].Outputs[i])
		}
		return
	}
	d.linkRegionOutputs(c)
}

// linkRegionOutputs links the values a region hands to the rest of its
// graph: by equal name (rewrites keep the replaced node's output value),
// then, when one value is left on each side, those two.
func (d *differ) linkRegionOutputs(c *change) {
	outsA := regionOutputs(d.a, c.old)
	outsB := regionOutputs(d.b, c.new)
	byName := map[string]*Value{}
	for _, v := range outsB {
		byName[v.Name] = v
	}
	var restA, restB []*Value
	for _, v := range outsA {
		if w := byName[v.Name]; w != nil {
			d.link(v, w)
		} else {
			restA = append(restA, v)
		}
	}
	for _, v := range outsB {
		if d.ba[v] == nil {
			restB = append(restB, v)
		}
	}
	if len(restA) == 1 && len(restB) == 1 {
		d.link(restA[0], restB[0])
	}
}

// regionOutputs lists the outputs of nodes that are read outside the region
// or are graph outputs, in node order.
func regionOutputs(s *diffSide, nodes []*Node) []*Value {
	in := map[*Node]bool{}
	for _, n := range nodes {
		in[n] = true
	}
	var out []*Value
	for _, n := range nodes {
		for _, v := range n.Outputs {
			if v == nil {
				continue
			}
			external := s.idx.IsGraphOutput(v)
			for _, c := range s.idx.Consumers(v) {
				if !in[c] {
					external = true
				}
			}
			if external {
				out = append(out, v)
			}
		}
	}
	return out
}

// provenanceRecord is one entry of the "onnxcompress.rewrites" metadata.
type provenanceRecord struct {
	Node        string   `json:"node"`
	Op          string   `json:"op"`
	Method      string   `json:"method"`
	Settings    string   `json:"settings"`
	WeightError *float64 `json:"weight_error"`
	NewNodes    []string `json:"new_nodes"`
}

// provenanceOf reads b's rewrite records: the metadata list when present,
// else the records rebuilt from the emitted nodes' doc_strings.
func provenanceOf(m *Model) []provenanceRecord {
	for _, p := range m.Metadata {
		if p.Key == ProvenanceKey {
			var list []provenanceRecord
			if json.Unmarshal([]byte(p.Value), &list) == nil {
				return list
			}
		}
	}
	var list []provenanceRecord
	at := map[string]int{}
	for _, n := range m.Graph.Nodes {
		r, ok := parseProvenance(n.DocString)
		if !ok {
			continue
		}
		i, seen := at[r.Node]
		if !seen {
			i = len(list)
			at[r.Node] = i
			list = append(list, r)
		}
		list[i].NewNodes = append(list[i].NewNodes, n.Label())
	}
	return list
}

// parseProvenance reads "onnxcompress: replaces X (Op) by method settings;
// weight rel. error E".
func parseProvenance(doc string) (provenanceRecord, bool) {
	var r provenanceRecord
	rest, ok := strings.CutPrefix(doc, ProvenancePrefix)
	if !ok {
		return r, false
	}
	by := strings.LastIndex(rest, ") by ")
	if by < 0 {
		return r, false
	}
	head, tail := rest[:by], rest[by+len(") by "):]
	open := strings.LastIndex(head, " (")
	if open < 0 {
		return r, false
	}
	r.Node, r.Op = head[:open], head[open+2:]
	if i := strings.Index(tail, "; weight rel. error "); i >= 0 {
		if e, err := strconv.ParseFloat(strings.TrimSpace(tail[i+len("; weight rel. error "):]), 64); err == nil && !math.IsNaN(e) && !math.IsInf(e, 0) {
			r.WeightError = &e
		}
		tail = tail[:i]
	}
	r.Method, r.Settings, _ = strings.Cut(tail, " ")
	return r, r.Node != ""
}

func labelMap(g *Graph) map[string]*Node {
	out := map[string]*Node{}
	for _, n := range g.Nodes {
		if _, dup := out[n.Label()]; !dup {
			out[n.Label()] = n
		}
	}
	return out
}

// pairByProvenance trusts b's record of what replaced what, where it fits
// the two models: the old node is in a and gone from b, and the new nodes
// are in b and not in a.
func (d *differ) pairByProvenance() {
	aNodes, bNodes := labelMap(d.a.g), labelMap(d.b.g)
	for _, r := range provenanceOf(d.b.m) {
		old := aNodes[r.Node]
		if old == nil || bNodes[r.Node] != nil || d.a.pair[old] != nil {
			continue
		}
		var news []*Node
		for _, name := range r.NewNodes {
			n := bNodes[name]
			if n != nil && aNodes[name] == nil && d.b.pair[n] == nil {
				news = append(news, n)
			}
		}
		if len(news) == 0 {
			continue
		}
		sort.SliceStable(news, func(i, j int) bool { return d.b.order[news[i]] < d.b.order[news[j]] })
		d.add(&change{kind: Replaced, match: ByProvenance, old: []*Node{old}, new: news,
			method: r.Method, settings: r.Settings, werr: r.WeightError})
	}
}

func firstOutputName(n *Node) string {
	if len(n.Outputs) > 0 && n.Outputs[0] != nil {
		return n.Outputs[0].Name
	}
	return ""
}

// pairByName pairs unpaired nodes with the same non-empty key, each key
// used once per side.
func (d *differ) pairByName(match MatchKind, key func(*Node) string) {
	count := map[string]int{}
	for _, n := range d.b.g.Nodes {
		if d.b.pair[n] == nil && key(n) != "" {
			count[key(n)]++
		}
	}
	byKey := map[string]*Node{}
	for _, n := range d.b.g.Nodes {
		if d.b.pair[n] == nil && count[key(n)] == 1 {
			byKey[key(n)] = n
		}
	}
	countA := map[string]int{}
	for _, n := range d.a.g.Nodes {
		if d.a.pair[n] == nil && key(n) != "" {
			countA[key(n)]++
		}
	}
	for _, n := range d.a.g.Nodes {
		k := key(n)
		if d.a.pair[n] != nil || k == "" || countA[k] != 1 {
			continue
		}
		if m := byKey[k]; m != nil && d.b.pair[m] == nil {
			d.add(&change{match: match, old: []*Node{n}, new: []*Node{m}})
		}
	}
}

// pairByStructure pairs unpaired nodes of the same op that sit at the same
// place: first exact twins (same attributes and constants) reading paired
// values or feeding paired consumers, then nodes of the same op whose
// neighbourhood does not contradict the pairing, until nothing changes.
func (d *differ) pairByStructure(relaxed bool) {
	rounds := []bool{true}
	if relaxed {
		rounds = append(rounds, false)
	}
	for changed := true; changed; {
		changed = false
		for _, strict := range rounds {
			for _, forward := range []bool{true, false} {
				if d.structurePass(forward, strict) {
					changed = true
				}
			}
			if changed {
				break // retry the strict rounds with the new anchors first
			}
		}
	}
}

// linkPairedInputs links the inputs of paired nodes whose producers are
// both unpaired: the same node reads the same data, which anchors the search
// for those producers from below. It runs after the exact matches, which
// are better evidence than this.
func (d *differ) linkPairedInputs() {
	for _, c := range d.changes {
		if len(c.old) != 1 || len(c.new) != 1 || len(c.old[0].Inputs) != len(c.new[0].Inputs) {
			continue
		}
		for i, va := range c.old[0].Inputs {
			vb := c.new[0].Inputs[i]
			pa, pb := d.a.idx.Producer(va), d.b.idx.Producer(vb)
			if pa != nil && pb != nil && d.a.pair[pa] == nil && d.b.pair[pb] == nil {
				d.link(va, vb)
			}
		}
	}
}

func (d *differ) structurePass(forward, strict bool) bool {
	nodes := d.b.g.Nodes
	if !forward {
		nodes = make([]*Node, len(d.b.g.Nodes))
		for i, n := range d.b.g.Nodes {
			nodes[len(nodes)-1-i] = n
		}
	}
	paired := false
	for _, nb := range nodes {
		if d.b.pair[nb] != nil {
			continue
		}
		var anchor []*Node // candidate a nodes near an anchored value
		if forward {
			for _, vb := range nb.Inputs {
				if va := d.ba[vb]; va != nil && !isConstValue(d.b, vb) {
					anchor = append(anchor, d.a.idx.Consumers(va)...)
				}
			}
		} else {
			for _, vb := range nb.Outputs {
				if va := d.ba[vb]; va != nil {
					if p := d.a.idx.Producer(va); p != nil {
						anchor = append(anchor, p)
					}
				}
			}
		}
		for _, na := range anchor {
			if d.a.pair[na] != nil || na.OpType != nb.OpType || na.Domain != nb.Domain {
				continue
			}
			if !d.compatible(na, nb, forward) {
				continue
			}
			if strict && len(d.nodeDetails(na, nb)) > 0 {
				continue
			}
			d.add(&change{match: ByStructure, old: []*Node{na}, new: []*Node{nb}})
			paired = true
			break
		}
	}
	return paired
}

// compatible: every linked input (and output) of the pair is linked to its
// counterpart, and in the pass's direction all non-constant ones are linked.
func (d *differ) compatible(na, nb *Node, forward bool) bool {
	if len(na.Inputs) != len(nb.Inputs) || len(na.Outputs) != len(nb.Outputs) {
		return false
	}
	agree := func(va, vb *Value, mustLink bool) bool {
		if va == nil || vb == nil {
			return va == nil && vb == nil
		}
		if d.ab[va] == nil && d.ba[vb] == nil {
			return !mustLink
		}
		return d.ab[va] == vb
	}
	for i := range na.Inputs {
		constant := isConstValue(d.a, na.Inputs[i]) && isConstValue(d.b, nb.Inputs[i])
		if constant {
			continue
		}
		if !agree(na.Inputs[i], nb.Inputs[i], forward) {
			return false
		}
	}
	for i := range na.Outputs {
		if !agree(na.Outputs[i], nb.Outputs[i], !forward && i == 0) {
			return false
		}
	}
	return true
}

func isConstValue(s *diffSide, v *Value) bool {
	_, _, ok := constSource(s.g, s.idx, v)
	return ok
}

// groupLeftovers turns unpaired nodes into regions: unpaired neighbours on
// one side join, and an a-region joins a b-region when both feed the same
// input of a paired node (or the same graph output).
func (d *differ) groupLeftovers() {
	parent := map[*Node]*Node{}
	var find func(*Node) *Node
	find = func(n *Node) *Node {
		for parent[n] != n {
			parent[n] = parent[parent[n]]
			n = parent[n]
		}
		return n
	}
	union := func(x, y *Node) {
		rx, ry := find(x), find(y)
		if rx == ry {
			return
		}
		if d.rank(rx) < d.rank(ry) {
			parent[ry] = rx
		} else {
			parent[rx] = ry
		}
	}
	for _, s := range []*diffSide{d.a, d.b} {
		for _, n := range s.g.Nodes {
			if s.pair[n] == nil {
				parent[n] = n
			}
		}
		for _, n := range s.g.Nodes {
			if s.pair[n] != nil {
				continue
			}
			for _, v := range NodeReads(n) {
				if p := s.idx.Producer(v); p != nil && s.pair[p] == nil {
					union(n, p)
				}
			}
		}
	}
	joinAt := func(va, vb *Value) {
		pa, pb := d.a.idx.Producer(va), d.b.idx.Producer(vb)
		if pa != nil && pb != nil && d.a.pair[pa] == nil && d.b.pair[pb] == nil {
			union(pa, pb)
			d.link(va, vb)
		}
	}
	for _, c := range d.changes {
		if len(c.old) != 1 || len(c.new) != 1 || len(c.old[0].Inputs) != len(c.new[0].Inputs) {
			continue
		}
		for i, va := range c.old[0].Inputs {
			if va != nil && c.new[0].Inputs[i] != nil {
				joinAt(va, c.new[0].Inputs[i])
			}
		}
	}
	for _, va := range d.a.g.Outputs {
		if vb := d.ab[va]; vb != nil {
			joinAt(va, vb)
		}
	}
	groups := map[*Node]*change{}
	var order []*Node
	for _, s := range []*diffSide{d.a, d.b} {
		for _, n := range s.g.Nodes {
			if s.pair[n] != nil {
				continue
			}
			r := find(n)
			c := groups[r]
			if c == nil {
				c = &change{match: ByStructure}
				groups[r] = c
				order = append(order, r)
			}
			if s == d.a {
				c.old = append(c.old, n)
			} else {
				c.new = append(c.new, n)
			}
		}
	}
	for _, r := range order {
		c := groups[r]
		switch {
		case len(c.new) == 0:
			c.kind, c.match = Removed, ""
		case len(c.old) == 0:
			c.kind, c.match = Added, ""
		default:
			c.kind = Replaced
		}
		d.add(c)
	}
}

// rank orders nodes for union-find roots deterministically: a's nodes
// before b's, each in node order.
func (d *differ) rank(n *Node) int {
	if i, ok := d.a.order[n]; ok {
		return i
	}
	return len(d.a.order) + d.b.order[n]
}

// nodeDetails says how paired nodes of the same op differ: attributes,
// constant inputs and wiring; nil when they do not.
func (d *differ) nodeDetails(na, nb *Node) []string {
	var out []string
	if na.OpType != nb.OpType || na.Domain != nb.Domain {
		out = append(out, fmt.Sprintf("op %s → %s", opName(na), opName(nb)))
		return out
	}
	out = append(out, attrDetails(na, nb)...)
	if len(na.Inputs) != len(nb.Inputs) {
		out = append(out, fmt.Sprintf("%d inputs → %d", len(na.Inputs), len(nb.Inputs)))
	}
	for i := 0; i < min(len(na.Inputs), len(nb.Inputs)); i++ {
		va, vb := na.Inputs[i], nb.Inputs[i]
		if va == nil || vb == nil {
			if va != vb {
				out = append(out, fmt.Sprintf("input %d: %s → %s", i, valueName(va), valueName(vb)))
			}
			continue
		}
		_, ta, okA := constSource(d.a.g, d.a.idx, va)
		_, tb, okB := constSource(d.b.g, d.b.idx, vb)
		switch {
		case okA && okB:
			if s := tensorDifference(ta, tb); s != "" {
				out = append(out, fmt.Sprintf("input %d (%s): %s", i, vb.Name, s))
			}
		case okA != okB:
			out = append(out, fmt.Sprintf("input %d: %s → %s", i, constWord(okA, va), constWord(okB, vb)))
		case d.ab[va] != nil && d.ba[vb] != nil && d.ab[va] != vb:
			// Both ends exist on both sides, so the edge itself moved; an
			// unlinked end is explained by an added or removed neighbour.
			out = append(out, fmt.Sprintf("input %d rewired: %s → %s", i, va.Name, vb.Name))
		}
	}
	if len(na.Outputs) != len(nb.Outputs) {
		out = append(out, fmt.Sprintf("%d outputs → %d", len(na.Outputs), len(nb.Outputs)))
	}
	return out
}

func opName(n *Node) string {
	if n.IsDefaultDomain() {
		return n.OpType
	}
	return n.Domain + "." + n.OpType
}

func valueName(v *Value) string {
	if v == nil {
		return "(none)"
	}
	return v.Name
}

func constWord(isConst bool, v *Value) string {
	if isConst {
		return "constant " + v.Name
	}
	return v.Name
}

func tensorDifference(ta, tb *Tensor) string {
	if ta.DType != tb.DType {
		return fmt.Sprintf("dtype %s → %s", ta.DType, tb.DType)
	}
	if !equalDims(ta.Dims, tb.Dims) {
		return fmt.Sprintf("shape %v → %v", ta.Dims, tb.Dims)
	}
	if bytes.Equal(ta.Raw, tb.Raw) && equalByteStrings(ta.Strings, tb.Strings) {
		return ""
	}
	fa, errA := ta.Float64s()
	fb, errB := tb.Float64s()
	if errA != nil || errB != nil || len(fa) != len(fb) {
		return "values differ"
	}
	var num, den float64
	changed := 0
	for i := range fa {
		e := fb[i] - fa[i]
		if fa[i] != fb[i] {
			changed++
		}
		num += e * e
		den += fa[i] * fa[i]
	}
	rel := num
	if den > 0 {
		rel = num / den
	}
	return fmt.Sprintf("%d of %d values differ (rel. L2 %.3g)", changed, len(fa), math.Sqrt(rel))
}

func equalDims(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func equalByteStrings(a, b [][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !bytes.Equal(a[i], b[i]) {
			return false
		}
	}
	return true
}

func attrDetails(na, nb *Node) []string {
	var out []string
	for _, x := range na.Attrs {
		y := nb.Attr(x.Name)
		switch {
		case y == nil:
			out = append(out, fmt.Sprintf("attribute %s=%s removed", x.Name, attrString(x)))
		case !equalAttr(x, y):
			out = append(out, fmt.Sprintf("attribute %s: %s → %s", x.Name, attrString(x), attrString(y)))
		}
	}
	for _, y := range nb.Attrs {
		if na.Attr(y.Name) == nil {
			out = append(out, fmt.Sprintf("attribute %s=%s added", y.Name, attrString(y)))
		}
	}
	return out
}

func equalAttr(x, y *Attr) bool {
	if x.Kind != y.Kind || x.RefName != y.RefName {
		return false
	}
	switch x.Kind {
	case AttrFloat:
		return x.F == y.F
	case AttrInt:
		return x.I == y.I
	case AttrString:
		return bytes.Equal(x.S, y.S)
	case AttrTensor:
		return equalTensor(x.T, y.T)
	case AttrGraph:
		return equalGraphShape(x.G, y.G)
	case AttrFloats:
		if len(x.Floats) != len(y.Floats) {
			return false
		}
		for i := range x.Floats {
			if x.Floats[i] != y.Floats[i] {
				return false
			}
		}
		return true
	case AttrInts:
		return equalDims(x.Ints, y.Ints)
	case AttrStrings:
		return equalByteStrings(x.Strings, y.Strings)
	case AttrTensors:
		if len(x.Tensors) != len(y.Tensors) {
			return false
		}
		for i := range x.Tensors {
			if !equalTensor(x.Tensors[i], y.Tensors[i]) {
				return false
			}
		}
		return true
	case AttrGraphs:
		if len(x.Graphs) != len(y.Graphs) {
			return false
		}
		for i := range x.Graphs {
			if !equalGraphShape(x.Graphs[i], y.Graphs[i]) {
				return false
			}
		}
		return true
	}
	return true
}

func equalTensor(a, b *Tensor) bool {
	if a == nil || b == nil {
		return a == b
	}
	return tensorDifference(a, b) == ""
}

// equalGraphShape compares subgraphs by their op sequence and interface:
// a cheap test that is exact for the untouched subgraphs rewrites leave.
func equalGraphShape(a, b *Graph) bool {
	if a == nil || b == nil {
		return a == b
	}
	if len(a.Nodes) != len(b.Nodes) || len(a.Inputs) != len(b.Inputs) || len(a.Outputs) != len(b.Outputs) ||
		len(a.Initializers) != len(b.Initializers) {
		return false
	}
	for i := range a.Nodes {
		x, y := a.Nodes[i], b.Nodes[i]
		if x.OpType != y.OpType || len(x.Attrs) != len(y.Attrs) {
			return false
		}
		for _, ax := range x.Attrs {
			ay := y.Attr(ax.Name)
			if ay == nil || !equalAttr(ax, ay) {
				return false
			}
		}
	}
	for i := range a.Initializers {
		if !equalTensor(a.Initializers[i].Const, b.Initializers[i].Const) {
			return false
		}
	}
	return true
}

func attrString(a *Attr) string {
	var s string
	switch a.Kind {
	case AttrFloat:
		s = strconv.FormatFloat(float64(a.F), 'g', -1, 32)
	case AttrInt:
		s = strconv.FormatInt(a.I, 10)
	case AttrString:
		s = strconv.Quote(string(a.S))
	case AttrFloats:
		s = fmt.Sprint(a.Floats)
	case AttrInts:
		s = fmt.Sprint(a.Ints)
	case AttrTensor:
		if a.T != nil {
			s = fmt.Sprintf("tensor %s%v", a.T.DType, a.T.Dims)
		}
	case AttrGraph:
		if a.G != nil {
			s = fmt.Sprintf("graph of %d nodes", len(a.G.Nodes))
		}
	default:
		s = fmt.Sprintf("(%d values)", len(a.Strings)+len(a.Tensors)+len(a.Graphs))
	}
	if len(s) > 60 {
		s = s[:57] + "…"
	}
	return s
}

// result fixes each change's kind and details, costs it, and orders the
// changes like a text diff: following b, with a's removed nodes where a
// had them.
func (d *differ) result() *ModelDiff {
	for _, c := range d.changes {
		if len(c.old) == 1 && len(c.new) == 1 && c.kind == "" {
			det := d.nodeDetails(c.old[0], c.new[0])
			c.kind = Unchanged
			switch {
			case c.old[0].OpType != c.new[0].OpType || c.old[0].Domain != c.new[0].Domain:
				c.kind = Replaced
			case len(det) > 0:
				c.kind = Modified
			}
			c.outputs = pairs(c.old[0].Outputs, c.new[0].Outputs, d.ab)
			c.details = det
		} else if c.kind == Replaced {
			c.outputs = pairs(regionOutputs(d.a, c.old), regionOutputs(d.b, c.new), d.ab)
		}
	}
	md := &ModelDiff{Changes: []NodeChange{}, GraphChanges: graphChanges(d.a.m, d.b.m),
		Before: costTotals(d.a.tot), After: costTotals(d.b.tot)}
	for _, c := range d.ordered() {
		nc := NodeChange{Kind: c.kind, Match: c.match, Old: nodeRefs(c.old), New: nodeRefs(c.new),
			Method: c.method, Settings: c.settings, WeightError: c.werr, Details: c.details, Outputs: c.outputs}
		if nc.Kind == Unchanged {
			nc.Match = c.match
		}
		for _, n := range c.old {
			nc.ParamsBefore += d.a.cost[n].Params
			nc.MACsBefore += d.a.cost[n].MACs
		}
		for _, n := range c.new {
			nc.ParamsAfter += d.b.cost[n].Params
			nc.MACsAfter += d.b.cost[n].MACs
		}
		md.Changes = append(md.Changes, nc)
	}
	return md
}

// pairs lists the linked (a, b) value pairs among as and bs.
func pairs(as, bs []*Value, ab map[*Value]*Value) []ValuePair {
	var out []ValuePair
	for _, va := range as {
		if va == nil {
			continue
		}
		for _, vb := range bs {
			if vb != nil && ab[va] == vb {
				out = append(out, ValuePair{va.Name, vb.Name})
			}
		}
	}
	return out
}

func (d *differ) ordered() []*change {
	first := func(s *diffSide, nodes []*Node) int {
		best := -1
		for _, n := range nodes {
			if i := s.order[n]; best < 0 || i < best {
				best = i
			}
		}
		return best
	}
	var byA, byB []*change
	for _, c := range d.changes {
		if len(c.old) > 0 {
			byA = append(byA, c)
		}
		if len(c.new) > 0 {
			byB = append(byB, c)
		}
	}
	sort.SliceStable(byA, func(i, j int) bool { return first(d.a, byA[i].old) < first(d.a, byA[j].old) })
	sort.SliceStable(byB, func(i, j int) bool { return first(d.b, byB[i].new) < first(d.b, byB[j].new) })
	done := map[*change]bool{}
	var out []*change
	emit := func(c *change) {
		if !done[c] {
			done[c] = true
			out = append(out, c)
		}
	}
	i, j := 0, 0
	for i < len(byA) || j < len(byB) {
		switch {
		case i < len(byA) && done[byA[i]]:
			i++
		case j < len(byB) && done[byB[j]]:
			j++
		case i < len(byA) && len(byA[i].new) == 0:
			emit(byA[i])
		case j < len(byB) && len(byB[j].old) == 0:
			emit(byB[j])
		case j < len(byB):
			emit(byB[j])
		default:
			emit(byA[i])
		}
	}
	return out
}

func costTotals(t Totals) CostTotals {
	return CostTotals{Layers: t.Layers, Params: t.Params, UniqueParams: t.UniqueParams, MACs: t.MACs}
}

func nodeRefs(nodes []*Node) []NodeRef {
	out := []NodeRef{}
	for _, n := range nodes {
		r := NodeRef{Node: n, Name: n.Label(), Op: opName(n), Outputs: []ValueRef{}}
		for _, v := range n.Outputs {
			if v != nil {
				r.Outputs = append(r.Outputs, valueRef(v))
			}
		}
		out = append(out, r)
	}
	return out
}

func valueRef(v *Value) ValueRef {
	r := ValueRef{Name: v.Name}
	if v.Type != nil {
		if v.Type.Elem != Undefined {
			r.DType = v.Type.Elem.String()
		}
		if v.Type.HasShape {
			r.Shape = v.Type.Shape.String()
		}
	}
	return r
}

func typeString(v *Value) string {
	r := valueRef(v)
	s := r.DType
	if r.Shape != "" {
		s += r.Shape
	}
	if s == "" {
		return "?"
	}
	return s
}

// graphChanges compares what the two models declare outside their nodes.
func graphChanges(a, b *Model) []GraphChange {
	out := []GraphChange{}
	scalar := func(what, x, y string) {
		if x != y {
			out = append(out, GraphChange{what, x, y})
		}
	}
	scalar("ir_version", strconv.FormatInt(a.IRVersion, 10), strconv.FormatInt(b.IRVersion, 10))
	scalar("producer", strings.TrimSpace(a.ProducerName+" "+a.ProducerVersion), strings.TrimSpace(b.ProducerName+" "+b.ProducerVersion))
	scalar("domain", a.Domain, b.Domain)
	scalar("model_version", strconv.FormatInt(a.ModelVersion, 10), strconv.FormatInt(b.ModelVersion, 10))
	scalar("doc_string", a.DocString, b.DocString)
	scalar("graph_name", a.Graph.Name, b.Graph.Name)
	keyed := func(what string, xs, ys []StringPair) {
		ym := map[string]string{}
		for _, y := range ys {
			ym[y.Key] = y.Value
		}
		xm := map[string]bool{}
		for _, x := range xs {
			xm[x.Key] = true
			y, ok := ym[x.Key]
			switch {
			case !ok:
				out = append(out, GraphChange{what + " " + x.Key, x.Value, ""})
			case y != x.Value:
				out = append(out, GraphChange{what + " " + x.Key, x.Value, y})
			}
		}
		for _, y := range ys {
			if !xm[y.Key] {
				out = append(out, GraphChange{what + " " + y.Key, "", y.Value})
			}
		}
	}
	opsets := func(m *Model) []StringPair {
		var out []StringPair
		for _, o := range m.Opsets {
			d := o.Domain
			if isDefaultDomain(d) {
				d = "ai.onnx"
			}
			out = append(out, StringPair{d, strconv.FormatInt(o.Version, 10)})
		}
		return out
	}
	iface := func(vs []*Value) []StringPair {
		var out []StringPair
		for _, v := range vs {
			if v != nil {
				out = append(out, StringPair{v.Name, typeString(v)})
			}
		}
		return out
	}
	keyed("opset", opsets(a), opsets(b))
	keyed("input", iface(RealInputs(a.Graph)), iface(RealInputs(b.Graph)))
	keyed("output", iface(a.Graph.Outputs), iface(b.Graph.Outputs))
	keyed("metadata", a.Metadata, b.Metadata)
	return out
}
