package store

// accessTxn and accessView are the statements that access.go, seen.go, store.go, backup.go need.
type accessTxn interface{}

type accessView interface{}
