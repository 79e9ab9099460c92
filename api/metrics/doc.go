// Package metrics is the server's /metrics, in Prometheus's text format,
// for operators running one server or several over a shared database.
//
// Each server has its own registry (not the process's default one, so
// tests and several servers in one process keep their counts apart). It
// counts what this process served: every Connect call by procedure and
// code, with its latency (Interceptor), and what Sync and Carry pushed
// and pulled (ObserveSync, told by api/rpc). When scraped it reads the
// store's state (store.Stats, bounded by a timeout): open conflicts, held
// changes, the feed head and the active devices' lag. Those gauges are
// the shared database's, so any one server's are the fleet's; the
// counters are the process's, and a fleet's are their sum.
//
// Nothing exposed names a person, device, village or record: labels come
// from fixed sets (procedure names, Connect codes, outcomes), and the lag
// is a histogram and a maximum, never per device.
package metrics
