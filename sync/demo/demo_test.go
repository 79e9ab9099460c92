package demo_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/futian-xiaomo/villagesync/sync/demo"
	"github.com/futian-xiaomo/villagesync/sync/record"
)

// The README's first command must keep telling a true story: replicas
// converge and both kinds of conflict reach the log.
func TestDemoConvergesAndLogsBothConflicts(t *testing.T) {
	var out bytes.Buffer
	res, err := demo.Run(context.Background(), &out, t.TempDir())
	if err != nil {
		t.Fatalf("demo: %v\n%s", err, out.String())
	}
	if !res.Converged {
		t.Errorf("replicas did not converge:\n%s", out.String())
	}
	kinds := map[string]int{}
	for _, c := range res.Conflicts {
		kinds[c.Kind]++
	}
	if kinds[record.KindField] != 1 || kinds[record.KindDeleteVsEdit] != 1 || len(res.Conflicts) != 2 {
		t.Errorf("conflicts %v, want one field conflict and one delete_vs_edit", kinds)
	}
	for _, want := range []string{"converged", "conflict log"} {
		if !bytes.Contains(out.Bytes(), []byte(want)) {
			t.Errorf("demo output does not mention %q", want)
		}
	}
}
