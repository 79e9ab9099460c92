package store

// reviewTxn and reviewView are the statements that review.go, conflicts.go, gc.go, reportmonths.go, report.go need.
type reviewTxn interface{}

type reviewView interface{}
