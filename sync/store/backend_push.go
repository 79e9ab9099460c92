package store

// pushTxn and pullView are the statements that push.go, pull.go, roundtrip.go need.
type pushTxn interface{}

type pullView interface{}
