// Package hlc is a hybrid logical clock.
//
// A timestamp is wall-clock milliseconds shifted left 16 bits plus a
// logical counter. It never goes backwards, even when the wall clock does
// (phones lose their time after a battery swap), and it moves past every
// timestamp the clock has observed from other replicas, so a write made
// after seeing another write always carries a larger time.
package hlc
