package rewrite

import (
	"fmt"
	"sort"
)

// Candidate is one setting a method offers for a layer, with what it costs
// and how much weight error it leaves.
type Candidate struct {
	Plan   LayerPlan
	Params int64 // factor parameters plus the carried-over bias
	// MACs at the layer's inferred shapes; 0 when the method cannot price
	// them (then it cannot plan for a MAC budget).
	MACs int64
	Err  float64 // relative Frobenius error of the realised weight
	// SavedParams and SavedMACs are what the setting removes from other
	// layers, at their cost as selected: hinge's pruning form narrows the
	// inputs of the layers reading its channels. The global budget credits
	// them to the setting, then checks the written model (spendCoupled).
	SavedParams, SavedMACs int64
}

// candidateLister is implemented by methods whose error at each setting is
// cheap to know (from singular values, say); the global budget uses it.
type candidateLister interface {
	Candidates(l *Layer) ([]Candidate, error)
}

// budgetCost is what a global budget counts: parameters or MACs.
type budgetCost func(Candidate) int64

func paramsCost(c Candidate) int64 { return c.Params - c.SavedParams }
func macsCost(c Candidate) int64   { return c.MACs - c.SavedMACs }

// allocateGlobally spends one budget (ratio × the selected layers' cost as
// they are; the last candidate of each list is the layer left whole) across
// layers so that the sum of squared relative weight
// errors is smallest: each layer's candidates are reduced to their lower
// convex hull in (params, err²), then the budget goes, step by step, to the
// upgrade that removes the most error per parameter. That greedy order is
// optimal on convex hulls (a multiple-choice knapsack solved by its
// Lagrangian). Every layer gets at least its cheapest candidate.
func allocateGlobally(layers []*Layer, lists [][]Candidate, ratio float64, cost budgetCost) ([]Candidate, error) {
	var total float64
	for _, list := range lists {
		total += float64(cost(list[len(list)-1]))
	}
	budget := int64(ratio * total)
	hulls := make([][]Candidate, len(lists))
	var spent int64
	for i, list := range lists {
		hulls[i] = lowerHull(list, cost)
		if len(hulls[i]) == 0 {
			return nil, fmt.Errorf("layer %s: no candidate settings", layers[i].Node.Label())
		}
		spent += cost(hulls[i][0])
	}
	if spent > budget {
		return nil, fmt.Errorf("ratio %g: even the smallest setting of every layer costs %d, the budget is %d", ratio, spent, budget)
	}
	pos := make([]int, len(hulls))
	for {
		best, bestSlope := -1, 0.0
		for i, h := range hulls {
			if pos[i]+1 >= len(h) {
				continue
			}
			cur, next := h[pos[i]], h[pos[i]+1]
			if spent+cost(next)-cost(cur) > budget {
				continue
			}
			slope := (cur.Err*cur.Err - next.Err*next.Err) / float64(cost(next)-cost(cur))
			if best < 0 || slope > bestSlope {
				best, bestSlope = i, slope
			}
		}
		if best < 0 {
			break
		}
		spent += cost(hulls[best][pos[best]+1]) - cost(hulls[best][pos[best]])
		pos[best]++
	}
	out := make([]Candidate, len(hulls))
	for i, h := range hulls {
		out[i] = h[pos[i]]
	}
	return out, nil
}

// lowerHull keeps the candidates on the lower convex hull of (cost, err²),
// sorted by cost: only those are worth choosing when error is traded
// against size.
func lowerHull(list []Candidate, cost budgetCost) []Candidate {
	idx := hullIndices(len(list), func(i int) int64 { return cost(list[i]) }, func(i int) float64 { return list[i].Err })
	hull := make([]Candidate, len(idx))
	for k, i := range idx {
		hull[k] = list[i]
	}
	return hull
}

// hullIndices is lowerHull over n points given by their cost and error, so
// that methods with very many settings can prune them before building a
// Candidate for each.
func hullIndices(n int, cost func(int) int64, err func(int) float64) []int {
	order := make([]int, n)
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool {
		i, j := order[a], order[b]
		if cost(i) != cost(j) {
			return cost(i) < cost(j)
		}
		return err(i) < err(j)
	})
	var hull []int
	for _, p := range order {
		if k := len(hull); k > 0 && cost(p) == cost(hull[k-1]) {
			continue // same size, larger or equal error
		}
		if k := len(hull); k > 0 && err(p) >= err(hull[k-1]) {
			continue // bigger and no better
		}
		for len(hull) >= 2 {
			a, b := hull[len(hull)-2], hull[len(hull)-1]
			// b is above the segment a→p: drop it.
			ea, eb, ep := err(a)*err(a), err(b)*err(b), err(p)*err(p)
			lhs := (eb - ea) * float64(cost(p)-cost(a))
			rhs := (ep - ea) * float64(cost(b)-cost(a))
			if lhs < rhs {
				break
			}
			hull = hull[:len(hull)-1]
		}
		hull = append(hull, p)
	}
	return hull
}

// hullsUnion is the indices on the lower hull by parameters or by MACs (a
// method's candidates may be spent on either budget), in increasing order.
func hullsUnion(n int, params, macs func(int) int64, err func(int) float64) []int {
	keep := map[int]bool{}
	for _, i := range hullIndices(n, params, err) {
		keep[i] = true
	}
	for _, i := range hullIndices(n, macs, err) {
		keep[i] = true
	}
	out := make([]int, 0, len(keep))
	for i := range keep {
		out = append(out, i)
	}
	sort.Ints(out)
	return out
}

// pricedSetting is a setting priced as plain numbers, before its Candidate
// is built: methods with very many settings keep only the hull points.
type pricedSetting struct {
	form         string
	ranks        [2]int // the first nRanks are used
	nRanks       int
	params, macs int64
	err          float64
}

// hullCandidates builds the Candidates of the settings on the params or
// MACs hull (hullsUnion), in increasing setting order.
func hullCandidates(pts []pricedSetting) []Candidate {
	keep := hullsUnion(len(pts), func(i int) int64 { return pts[i].params }, func(i int) int64 { return pts[i].macs },
		func(i int) float64 { return pts[i].err })
	out := make([]Candidate, 0, len(keep))
	for _, i := range keep {
		p := pts[i]
		out = append(out, Candidate{Plan: LayerPlan{Form: p.form, Ranks: append([]int(nil), p.ranks[:p.nRanks]...)},
			Params: p.params, MACs: p.macs, Err: p.err})
	}
	return out
}

// networkFractions are the kept shares of a layer's parameters at which the
// tensor-network methods (tt, tr), whose every setting costs a
// decomposition, price candidates for the global budget.
var networkFractions = []float64{1.0 / 64, 1.0 / 32, 1.0 / 16, 1.0 / 8, 1.0 / 4, 3.0 / 8, 1.0 / 2, 3.0 / 4}
