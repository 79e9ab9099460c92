package main

import (
	"fmt"
	"os"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/futian-xiaomo/villagesync/clients/go/replica"
)

// newBar draws on stderr, and only on a terminal: piped output and logs
// get no control characters. max -1 makes a spinner, whose description
// says the counts.
func newBar(max int, desc string) *progressbar.ProgressBar {
	opts := []progressbar.Option{
		progressbar.OptionSetWriter(os.Stderr),
		progressbar.OptionSetVisibility(term.IsTerminal(int(os.Stderr.Fd()))),
		progressbar.OptionSetDescription(desc),
		progressbar.OptionThrottle(100 * time.Millisecond),
		progressbar.OptionClearOnFinish(),
	}
	if max > 0 {
		opts = append(opts, progressbar.OptionShowCount())
	}
	return progressbar.NewOptions(max, opts...)
}

// syncProgress shows a spinner with the records pushed and pulled once a
// sync takes more than one round; most take one, and a spinner that
// flashes for them would only be noise.
type syncProgress struct{ bar *progressbar.ProgressBar }

func (p *syncProgress) update(st replica.Stats) {
	if p.bar == nil {
		if st.RoundTrips < 2 {
			return
		}
		p.bar = newBar(-1, "syncing")
	}
	p.bar.Describe(fmt.Sprintf("syncing: pushed %d, pulled %d", st.Pushed, st.Pulled))
	p.bar.Set(st.Pushed + st.Pulled)
}

// done clears the spinner before the sync's summary is printed.
func (p *syncProgress) done() {
	if p.bar != nil {
		p.bar.Finish()
	}
}
