package dataset

import (
	"fmt"
	"math/rand/v2"
	"slices"
)

// rngStream keeps this package's random streams apart from others seeded with the same number.
const rngStream = 0x6461746173657431 // "dataset1"

// Permute returns indices in an order fixed by seed.
func Permute(indices []int, seed uint64) []int {
	out := slices.Clone(indices)
	rng := rand.New(rand.NewPCG(seed, rngStream))
	rng.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out
}

// Shuffle returns every sample index in an order fixed by seed.
func (d *Dataset) Shuffle(seed uint64) []int {
	all := make([]int, d.N)
	for i := range all {
		all[i] = i
	}
	return Permute(all, seed)
}

// SplitHoldout sets aside round(fraction·N) samples chosen by seed; both index
// lists come back sorted.
func (d *Dataset) SplitHoldout(fraction float64, seed uint64) (train, holdout []int, err error) {
	if !(fraction >= 0 && fraction < 1) {
		return nil, nil, fmt.Errorf("%s: hold-out fraction %v is not in [0, 1)", d.Path, fraction)
	}
	perm := d.Shuffle(seed)
	k := int(fraction*float64(d.N) + 0.5)
	holdout, train = perm[:k], perm[k:]
	slices.Sort(holdout)
	slices.Sort(train)
	return train, holdout, nil
}
