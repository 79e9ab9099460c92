package record

import "github.com/futian-xiaomo/villagesync/schema"

// checkDateOrders reports a live record whose dates break one of its
// table's date orders (a loan returned before it was lent): a rule across
// fields, so it is checked on the whole state, never on a change alone —
// but only for a change that writes one of the rule's dates, so a record
// made under older rules (a loan due in two years) still takes its return
// or a note.
func checkDateOrders(r *Record, t *schema.Table, written func(name string) bool) error {
	if len(t.DateOrders) == 0 {
		return nil
	}
	field, err := t.CheckDateOrders(func(name string) (string, bool) {
		f, ok := r.Fields[name]
		return f.Value.Text, ok && !f.Value.IsNull() && f.Value.Type == schema.Text
	}, written)
	if err != nil {
		return Refused(r.Table+"."+field, err)
	}
	return nil
}
