package graph

import (
	"container/heap"
	"fmt"
)

// TopoSort reorders g.Nodes (and the nodes of every subgraph) so that each
// node comes after the producers of the values it reads. It is stable: among
// the nodes ready to run it always picks the earliest in the current order,
// so a graph already in topological order is left unchanged. A cycle is an
// error naming a node on it.
func TopoSort(g *Graph) error {
	for _, n := range g.Nodes {
		for _, sg := range nodeSubgraphs(n) {
			if err := TopoSort(sg); err != nil {
				return fmt.Errorf("subgraph %q of node %s: %w", sg.Name, n.Label(), err)
			}
		}
	}
	order, cyclic := topoOrder(g.Nodes)
	if cyclic != nil {
		return fmt.Errorf("graph %q has a cycle through node %s", g.Name, cyclic.Label())
	}
	g.Nodes = order
	return nil
}

// topoOrder returns nodes in stable topological order, or a node on a cycle.
func topoOrder(nodes []*Node) ([]*Node, *Node) {
	producer := map[*Value]int{}
	for i, n := range nodes {
		for _, v := range n.Outputs {
			if v != nil {
				if _, dup := producer[v]; !dup {
					producer[v] = i
				}
			}
		}
	}
	waiting := make([]int, len(nodes))
	users := make([][]int, len(nodes))
	for i, n := range nodes {
		for _, v := range NodeReads(n) {
			if p, ok := producer[v]; ok {
				waiting[i]++
				users[p] = append(users[p], i)
			}
		}
	}
	ready := &intHeap{}
	for i := range nodes {
		if waiting[i] == 0 {
			heap.Push(ready, i)
		}
	}
	order := make([]*Node, 0, len(nodes))
	for ready.Len() > 0 {
		i := heap.Pop(ready).(int)
		order = append(order, nodes[i])
		for _, u := range users[i] {
			waiting[u]--
			if waiting[u] == 0 {
				heap.Push(ready, u)
			}
		}
	}
	if len(order) < len(nodes) {
		return nil, nodeOnCycle(nodes, waiting, producer)
	}
	return order, nil
}

// nodeOnCycle walks back from a node that never became ready through
// producers that never became ready either; the walk must revisit a node,
// and that node lies on a cycle.
func nodeOnCycle(nodes []*Node, waiting []int, producer map[*Value]int) *Node {
	start := -1
	for i := range nodes {
		if waiting[i] > 0 {
			start = i
			break
		}
	}
	visited := map[int]bool{}
	i := start
	for !visited[i] {
		visited[i] = true
		next := -1
		for _, v := range NodeReads(nodes[i]) {
			if p, ok := producer[v]; ok && waiting[p] > 0 {
				next = p
				break
			}
		}
		if next < 0 {
			break // cannot happen: a blocked node has a blocked producer
		}
		i = next
	}
	return nodes[i]
}

type intHeap []int

func (h intHeap) Len() int           { return len(h) }
func (h intHeap) Less(i, j int) bool { return h[i] < h[j] }
func (h intHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *intHeap) Push(x any)        { *h = append(*h, x.(int)) }
func (h *intHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}
