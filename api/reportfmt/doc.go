// Package reportfmt renders the coordinators' village totals (a
// *report.Report, as staff.Report fetches it from the server) as an
// aligned text table, CSV (with a UTF-8 byte order mark, so Excel reads
// the Chinese), an Excel workbook or JSON, with headers in Chinese or
// English. It only formats: fetching is the staff client's, computing the
// engine's (sync/report). It lives in api/ so that the server's
// ExportReport writes the very files the command line writes (api imports
// no clients/).
//
// Every format shows the same table: one row per village and month with
// activity, then each village's totals over the period, then the total of
// all villages. Distinct counts (volunteers, borrowers) in totals are
// distinct over the period, not sums of the months; open and overdue loans
// in totals are as at the end of the period. A month whose figures changed
// after the server first reported them carries the time of the revision.
// The table, JSON and Excel formats also say how fresh the data is: when
// each device last synced and how many conflicts await staff.
package reportfmt
