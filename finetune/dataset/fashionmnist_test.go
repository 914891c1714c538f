package dataset

import (
	"fmt"
	"os"
	"strings"
	"testing"
)

const fashionMNIST = "/usr/share/datasets/fashion-mnist"

func requireFashionMNIST(t testing.TB) {
	_, err := os.Stat(fashionMNIST + "/train-images-idx3-ubyte.gz")
	requireComponent(t, "Fashion-MNIST (Debian dataset-fashion-mnist) at "+fashionMNIST, err == nil)
}

// TestFashionMNIST loads the real data set and checks what is known of it:
// 60000/10000 samples of 28×28, ten balanced classes, and pixel sums that an
// independent decoder (Python's gzip + numpy) computes from the same files.
func TestFashionMNIST(t *testing.T) {
	requireFashionMNIST(t)
	ref := runPython(t, `
import gzip, sys, numpy as np
d = sys.argv[1]
for split in ('train', 't10k'):
    x = np.frombuffer(gzip.open(d + '/%s-images-idx3-ubyte.gz' % split).read()[16:], np.uint8).reshape(-1, 28 * 28)
    y = np.frombuffer(gzip.open(d + '/%s-labels-idx1-ubyte.gz' % split).read()[8:], np.uint8)
    picks = [0, 1, len(y) - 1]
    print(split, int(x.astype(np.int64).sum()), ' '.join('%d:%d:%d' % (i, y[i], int(x[i].astype(np.int64).sum())) for i in picks))
`, fashionMNIST)
	refs := map[string][]string{}
	for _, line := range strings.Split(strings.TrimSpace(ref), "\n") {
		f := strings.Fields(line)
		refs[f[0]] = f[1:]
	}
	for _, c := range []struct {
		split, prefix string
		n             int
	}{{"train", "train", 60000}, {"test", "t10k", 10000}} {
		d, err := Open(fashionMNIST, Options{Split: c.split, Scale: 1})
		if err != nil {
			t.Fatal(err)
		}
		if d.N != c.n || fmt.Sprint(d.Shape) != "[1 28 28]" || len(d.Labels) != c.n || d.NumClasses() != 10 {
			t.Fatalf("%s: N %d shape %v labels %d classes %d", c.split, d.N, d.Shape, len(d.Labels), d.NumClasses())
		}
		hist := make([]int, 10)
		for _, l := range d.Labels {
			hist[l]++
		}
		for k, h := range hist {
			if h != c.n/10 {
				t.Errorf("%s: class %d has %d samples, want %d", c.split, k, h, c.n/10)
			}
		}
		all := make([]float32, d.N*d.SampleSize())
		if err := d.Batch(d.Shuffle(1)[:0], all[:0]); err != nil {
			t.Fatal(err)
		}
		idx := make([]int, d.N)
		for i := range idx {
			idx[i] = i
		}
		if err := d.Batch(idx, all); err != nil {
			t.Fatal(err)
		}
		var total int64
		for _, v := range all {
			total += int64(v)
		}
		want := refs[c.prefix]
		if got := fmt.Sprint(total); got != want[0] {
			t.Errorf("%s: pixel sum %s, numpy says %s", c.split, got, want[0])
		}
		for _, pick := range want[1:] {
			var i, label int
			var sum int64
			fmt.Sscanf(pick, "%d:%d:%d", &i, &label, &sum)
			var s int64
			for _, v := range all[i*784 : (i+1)*784] {
				s += int64(v)
			}
			if int(d.Labels[i]) != label || s != sum {
				t.Errorf("%s sample %d: label %d sum %d, numpy says %d and %d", c.split, i, d.Labels[i], s, label, sum)
			}
		}
	}
}

func BenchmarkOpenFashionMNISTTrain(b *testing.B) {
	requireFashionMNIST(b)
	for b.Loop() {
		if _, err := Open(fashionMNIST, Options{}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkBatch128FashionMNIST(b *testing.B) {
	requireFashionMNIST(b)
	d, err := Open(fashionMNIST, Options{Mean: []float32{0.2860}, Std: []float32{0.3530}})
	if err != nil {
		b.Fatal(err)
	}
	order := d.Shuffle(7)
	dst := make([]float32, 128*d.SampleSize())
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		lo := (i * 128) % (d.N - 128)
		if err := d.Batch(order[lo:lo+128], dst); err != nil {
			b.Fatal(err)
		}
	}
}
