// Command rewrite-bench measures what the rewrite passes cost and what they
// buy, by driving a built onnxcompress binary as a user would:
//
//   - -part cost: wall time, CPU time and peak RSS (from /usr/bin/time -v) of
//     `onnxcompress compress MODEL --method tucker --ratio R --probe N`, for
//     each N in -probes ("default": no --probe flag), against the goals 10 s
//     and 4× the model file size; the median time and largest RSS of -runs runs, optionally beside
//     a -baseline binary run alternately.
//   - -part latency: for each method, compress MODEL, then time the original
//     and the compressed model in ONNX Runtime (one intra-op thread, median;
//     the two timed back to back so machine load hits both alike) and set the
//     latency ratio beside the MAC ratio from `onnxcompress inspect --json`.
//     On a shared machine one median is at the mercy of the load at that
//     moment, so the two are timed alternately for -rounds rounds and each
//     keeps its fastest median.
//
// Both print markdown tables. See run.sh for the full benchmark.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/onnxcompress/onnxcompress/graph"
	"github.com/onnxcompress/onnxcompress/internal/reference"
	"github.com/onnxcompress/onnxcompress/onnx"
)

type config struct {
	bin, model, label, shape, work string
	baseline                       string // -part cost: a second binary to compare with
	target                         string // compress flag and value, e.g. "--ratio 0.5"
	methods                        []string
	probes                         []int
	iters, rounds, runs            int
	timeout                        time.Duration
}

func main() {
	var c config
	var methods, probes string
	part := flag.String("part", "", "cost or latency")
	flag.StringVar(&c.bin, "bin", "", "built onnxcompress binary")
	flag.StringVar(&c.model, "model", "", "ONNX model")
	flag.StringVar(&c.label, "label", "", "model name in the tables (default: file name)")
	flag.StringVar(&c.shape, "shape", "", "input shape D1,D2,... for MACs and timing")
	flag.StringVar(&c.work, "work", "", "directory for compressed models (default: a temporary one)")
	flag.StringVar(&c.target, "target", "--ratio 0.5", "compress target flag and value")
	flag.StringVar(&methods, "methods", "svd,tucker,cp,tt,debut", "methods for -part latency")
	flag.StringVar(&probes, "probes", "0,1", "--probe values for -part cost (default: compress's default, no --probe flag)")
	flag.IntVar(&c.runs, "runs", 1, "-part cost: runs per command; the table keeps the median times and the largest RSS")
	flag.StringVar(&c.baseline, "baseline", "", "-part cost: also run this onnxcompress binary, alternating with -bin")
	flag.IntVar(&c.iters, "iters", 20, "ONNX Runtime timed runs per model (median)")
	flag.IntVar(&c.rounds, "rounds", 3, "alternate original and compressed timings this many times; keep the fastest median of each")
	flag.DurationVar(&c.timeout, "timeout", 3*time.Minute, "give up on one compression after this long")
	flag.Parse()
	c.methods = strings.Split(methods, ",")
	for _, p := range strings.Split(probes, ",") {
		if p == "default" {
			c.probes = append(c.probes, -1)
			continue
		}
		n, err := strconv.Atoi(p)
		if err != nil {
			fail(fmt.Errorf("-probes %q: %v", probes, err))
		}
		c.probes = append(c.probes, n)
	}
	if c.label == "" {
		c.label = filepath.Base(c.model)
	}
	if c.bin == "" || c.model == "" || c.shape == "" {
		fail(errors.New("-bin, -model and -shape are required"))
	}
	if c.work == "" {
		dir, err := os.MkdirTemp("", "rewrite-bench-")
		if err != nil {
			fail(err)
		}
		defer os.RemoveAll(dir)
		c.work = dir
	}
	var err error
	switch *part {
	case "cost":
		err = compressCost(c)
	case "latency":
		err = latency(c)
	default:
		err = fmt.Errorf("-part %q: want cost or latency", *part)
	}
	if err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "rewrite-bench:", err)
	os.Exit(1)
}

// compressCost prints one row per binary and probe setting: the median wall
// and CPU time and the largest peak RSS of -runs runs (peak RSS varies from
// run to run with the moments the collector happens to run). With
// -baseline, the baseline binary's runs alternate with -bin's, so both
// meet the same machine load.
func compressCost(c config) error {
	st, err := os.Stat(c.model)
	if err != nil {
		return err
	}
	fileMiB := float64(st.Size()) / (1 << 20)
	type binary struct{ label, path string }
	bins := []binary{{"", c.bin}}
	if c.baseline != "" {
		bins = []binary{{"before", c.baseline}, {"after", c.bin}}
	}
	fmt.Printf("| model | file MiB | binary | command | runs | wall s | user+sys s | max RSS MiB | RSS / file | wall ≤ 10 s | RSS ≤ 4× file |\n")
	fmt.Printf("|---|---:|---|---|---:|---:|---:|---:|---:|---|---|\n")
	for _, probe := range c.probes {
		runs := make([][]usage, len(bins))
		for run := 0; run < c.runs; run++ {
			for i, b := range bins {
				u, err := compressOnce(c, b.path, probe, fmt.Sprintf("cost-%d-%d.onnx", i, probe))
				if err != nil {
					return err
				}
				runs[i] = append(runs[i], u)
			}
		}
		command := fmt.Sprintf("compress --method tucker %s --probe %d", c.target, probe)
		if probe < 0 {
			command = fmt.Sprintf("compress --method tucker %s", c.target)
		}
		for i, b := range bins {
			u := medianTimesMaxRSS(runs[i])
			rssMiB := float64(u.maxRSSKiB) / 1024
			fmt.Printf("| %s | %.1f | %s | `%s` | %d | %.1f | %.1f | %.0f | %.1f× | %s | %s |\n",
				c.label, fileMiB, b.label, command, c.runs, u.wall, u.user+u.sys, rssMiB, rssMiB/fileMiB,
				yesNo(u.wall <= 10), yesNo(rssMiB <= 4*fileMiB))
		}
	}
	return nil
}

// medianTimesMaxRSS keeps the median wall and CPU times of runs and their
// largest peak RSS.
func medianTimesMaxRSS(runs []usage) usage {
	median := func(f func(usage) float64) float64 {
		v := make([]float64, len(runs))
		for i, u := range runs {
			v[i] = f(u)
		}
		sort.Float64s(v)
		return v[len(v)/2]
	}
	u := usage{
		wall: median(func(u usage) float64 { return u.wall }),
		user: median(func(u usage) float64 { return u.user }),
		sys:  median(func(u usage) float64 { return u.sys }),
	}
	for _, r := range runs {
		u.maxRSSKiB = max(u.maxRSSKiB, r.maxRSSKiB)
	}
	return u
}

// compressOnce runs bin's compress under GNU time; probe < 0 leaves
// --probe at its default.
func compressOnce(c config, bin string, probe int, outName string) (usage, error) {
	out := filepath.Join(c.work, outName)
	args := append([]string{"-v", bin, "compress", c.model, "-o", out, "--method", "tucker"}, strings.Fields(c.target)...)
	if probe >= 0 {
		args = append(args, "--probe", strconv.Itoa(probe))
	}
	args = append(args, "--shape", c.shape, "-q")
	cmd := exec.Command("/usr/bin/time", args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return usage{}, fmt.Errorf("compress %s: %v: %s", c.model, err, lastLines(stderr.Bytes(), 3))
	}
	return parseTimeV(stderr.Bytes())
}

type usage struct {
	wall, user, sys float64
	maxRSSKiB       int64
}

// parseTimeV reads GNU time's -v report.
func parseTimeV(report []byte) (usage, error) {
	var u usage
	found := 0
	sc := bufio.NewScanner(bytes.NewReader(report))
	for sc.Scan() {
		key, val, ok := strings.Cut(strings.TrimSpace(sc.Text()), ": ")
		if !ok {
			continue
		}
		var err error
		switch key {
		case "User time (seconds)":
			u.user, err = strconv.ParseFloat(val, 64)
		case "System time (seconds)":
			u.sys, err = strconv.ParseFloat(val, 64)
		case "Maximum resident set size (kbytes)":
			u.maxRSSKiB, err = strconv.ParseInt(val, 10, 64)
		case "Elapsed (wall clock) time (h:mm:ss or m:ss)":
			u.wall, err = clockSeconds(val)
		default:
			continue
		}
		if err != nil {
			return u, fmt.Errorf("time -v %q: %v", key, err)
		}
		found++
	}
	if found != 4 {
		return u, fmt.Errorf("time -v report incomplete: %s", lastLines(report, 3))
	}
	return u, nil
}

// clockSeconds parses h:mm:ss or m:ss.ss.
func clockSeconds(s string) (float64, error) {
	total := 0.0
	for _, part := range strings.Split(s, ":") {
		v, err := strconv.ParseFloat(part, 64)
		if err != nil {
			return 0, err
		}
		total = total*60 + v
	}
	return total, nil
}

// latency prints one row per method, each compressed model timed right
// after a fresh timing of the original.
func latency(c config) error {
	m, err := onnx.Read(c.model)
	if err != nil {
		return err
	}
	inputs, err := randomInputs(m, c.shape)
	if err != nil {
		return err
	}
	before, err := c.inspect(c.model)
	if err != nil {
		return err
	}
	beforeOps := opCounts(m)
	fmt.Printf("| model | method | target | compress s | params ratio | MAC ratio | orig ms | compressed ms | latency ratio | ≤ 1.3 × MAC ratio | graph change |\n")
	fmt.Printf("|---|---|---|---:|---:|---:|---:|---:|---:|---|---|\n")
	for _, method := range c.methods {
		row := fmt.Sprintf("| %s | %s | `%s` |", c.label, method, c.target)
		out := filepath.Join(c.work, strings.TrimSuffix(filepath.Base(c.model), ".onnx")+"."+method+".onnx")
		took, err := c.compress(method, out)
		if err != nil {
			fmt.Printf("%s %.0f | failed: %s | | | | | | | |\n", row, took.Seconds(), oneLine(err.Error()))
			continue
		}
		after, err := c.inspect(out)
		if err != nil {
			return err
		}
		cm, err := onnx.Read(out)
		if err != nil {
			return err
		}
		orig, comp, compErr, err := c.timePair(out, inputs)
		if err != nil {
			return err
		}
		if compErr != nil {
			fmt.Printf("%s %.1f | %.3f | %.3f | %.2f | ORT failed: %s | | | |\n", row, took.Seconds(),
				ratio(after.Params, before.Params), ratio(after.MACs, before.MACs), 1e3*orig, oneLine(compErr.Error()))
			continue
		}
		macRatio := ratio(after.MACs, before.MACs)
		latRatio := comp / orig
		fmt.Printf("%s %.1f | %.3f | %.3f | %.2f | %.2f | %.3f | %s | %s |\n", row, took.Seconds(),
			ratio(after.Params, before.Params), macRatio, 1e3*orig, 1e3*comp, latRatio,
			yesNo(latRatio <= 1.3*macRatio), opDelta(beforeOps, opCounts(cm)))
	}
	return nil
}

// timePair times the original and the compressed model alternately and
// returns the fastest median of each. compErr is ONNX Runtime refusing the
// compressed model (a row of the table); err is a failure on the original.
func (c config) timePair(compressed string, inputs map[string]*graph.Tensor) (orig, comp float64, compErr, err error) {
	orig, comp = math.Inf(1), math.Inf(1)
	for range max(1, c.rounds) {
		o, err := reference.BenchORT(c.model, inputs, 1, c.iters)
		if err != nil {
			return 0, 0, nil, err
		}
		orig = min(orig, o)
		t, err := reference.BenchORT(compressed, inputs, 1, c.iters)
		if err != nil {
			return orig, 0, err, nil
		}
		comp = min(comp, t)
	}
	return orig, comp, nil, nil
}

func (c config) compress(method, out string) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	args := append([]string{"compress", c.model, "-o", out, "--method", method}, strings.Fields(c.target)...)
	args = append(args, "--probe", "0", "--shape", c.shape, "-q")
	cmd := exec.CommandContext(ctx, c.bin, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	start := time.Now()
	err := cmd.Run()
	took := time.Since(start)
	if ctx.Err() != nil {
		return took, fmt.Errorf("timed out after %s", c.timeout)
	}
	if err != nil {
		return took, fmt.Errorf("%v: %s", err, lastLines(stderr.Bytes(), 1))
	}
	return took, nil
}

type inspected struct {
	Params int64 `json:"params"`
	MACs   int64 `json:"macs"`
}

func (c config) inspect(path string) (inspected, error) {
	var r inspected
	out, err := exec.Command(c.bin, "inspect", path, "--json", "--shape", c.shape).Output()
	if err != nil {
		return r, fmt.Errorf("inspect %s: %v", path, err)
	}
	if err := json.Unmarshal(out, &r); err != nil {
		return r, fmt.Errorf("inspect %s: %v", path, err)
	}
	return r, nil
}

// randomInputs gives every real input standard normal values (seeded), the
// first one at shape and the others at their declared shapes.
func randomInputs(m *graph.Model, shape string) (map[string]*graph.Tensor, error) {
	rng := rand.New(rand.NewPCG(1, 2))
	out := map[string]*graph.Tensor{}
	for i, v := range graph.RealInputs(m.Graph) {
		var dims []int64
		if i == 0 {
			for _, f := range strings.Split(shape, ",") {
				d, err := strconv.ParseInt(f, 10, 64)
				if err != nil {
					return nil, fmt.Errorf("-shape %q: %v", shape, err)
				}
				dims = append(dims, d)
			}
		} else if ds, ok := v.Type.Shape.Ints(); ok {
			dims = ds
		} else {
			return nil, fmt.Errorf("input %q has shape %v and only the first input takes -shape", v.Name, v.Type.Shape)
		}
		n, err := graph.NumElements(dims)
		if err != nil {
			return nil, fmt.Errorf("input %q: %v", v.Name, err)
		}
		data := make([]float32, n)
		for k := range data {
			data[k] = float32(rng.NormFloat64())
		}
		out[v.Name] = graph.NewFloat32(v.Name, dims, data)
	}
	return out, nil
}

// opCounts counts nodes by op type; grouped and depthwise convolutions are
// counted apart since they run far below dense-conv speed per MAC.
func opCounts(m *graph.Model) map[string]int {
	counts := map[string]int{}
	for _, n := range m.Graph.Nodes {
		op := n.OpType
		if op == "Conv" && n.AttrInt("group", 1) > 1 {
			op = "Conv(group>1)"
		}
		counts[op]++
	}
	return counts
}

// opDelta lists the op types whose node count changed, e.g. "Conv +20, Gemm +1".
func opDelta(before, after map[string]int) string {
	ops := map[string]bool{}
	for op := range before {
		ops[op] = true
	}
	for op := range after {
		ops[op] = true
	}
	names := make([]string, 0, len(ops))
	for op := range ops {
		names = append(names, op)
	}
	sort.Strings(names)
	var parts []string
	for _, op := range names {
		if d := after[op] - before[op]; d != 0 {
			parts = append(parts, fmt.Sprintf("%s %+d", op, d))
		}
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

func ratio(a, b int64) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

func yesNo(ok bool) string {
	if ok {
		return "yes"
	}
	return "no"
}

func lastLines(b []byte, n int) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " / ")
}

func oneLine(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "\n", " "), "|", "\\|")
}
