package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/urfave/cli/v2"
)

// progress draws a one-line bar on stderr when stderr is a terminal and
// prints a plain line every few seconds (and at the end) otherwise; with
// --quiet it prints nothing.
type progress struct {
	w        io.Writer
	what     string
	terminal bool
	off      bool
	drawn    bool
	start    time.Time
	last     time.Time
}

// plainEvery is how often a plain progress line is printed when stderr is
// not a terminal.
const plainEvery = 5 * time.Second

func newProgress(c *cli.Context, what string) *progress {
	p := &progress{w: c.App.ErrWriter, what: what, start: time.Now(), last: time.Now(), off: c.Bool("quiet")}
	if p.w == nil {
		p.w = os.Stderr
	}
	if f, ok := p.w.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			p.terminal = true
		}
	}
	return p
}

// update reports done of total units, with detail (e.g. the loss) after.
func (p *progress) update(done, total int, detail string) {
	if p.off || total <= 0 {
		return
	}
	eta := ""
	if done > 0 && done < total {
		left := time.Duration(float64(time.Since(p.start)) / float64(done) * float64(total-done))
		eta = "  ETA " + left.Round(time.Second).String()
	}
	if detail != "" {
		detail = "  " + detail
	}
	if p.terminal {
		const width = 30
		filled := width * min(done, total) / total
		fmt.Fprintf(p.w, "\r\033[K%s [%s%s] %d/%d%s%s", p.what, strings.Repeat("=", filled),
			strings.Repeat(" ", width-filled), done, total, detail, eta)
		p.drawn = true
		return
	}
	if time.Since(p.last) >= plainEvery || done >= total {
		p.last = time.Now()
		fmt.Fprintf(p.w, "%s %d/%d%s%s\n", p.what, done, total, detail, eta)
	}
}

// counter adapts update to the (done, total) callbacks of the API.
func (p *progress) counter(done, total int) { p.update(done, total, "") }

// clear removes the bar before other output.
func (p *progress) clear() {
	if p.drawn {
		fmt.Fprint(p.w, "\r\033[K")
		p.drawn = false
	}
}
