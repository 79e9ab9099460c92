// Package report computes the coordinators' village totals from the
// server's synced records: per village and month, the 7pm classroom's
// sessions, student attendances and volunteers; cleanup tasks reported,
// done and checked per kind with the work done per unit; and loans made,
// returned, open and overdue per library with distinct borrowers. It also
// totals each village and all villages over the period (distinct counts
// stay distinct, never sums) and says how fresh the data is: the feed
// position, when each device last synced, and the conflicts staff have not
// resolved yet.
//
// Every figure is read from one read snapshot of the server database, so a
// report is consistent with itself while devices keep syncing. A record
// counts in exactly one (village, month): the village it names and the
// month of its own date. Deleted records never count, nor does the later
// of two sessions flagged as a probable duplicate while staff have not
// resolved the flag.
//
// Past months are remembered by a digest of their figures (store
// NoteReportedMonths, the only write a report makes), so a month whose
// numbers change after it was first reported — a phone that synced late, a
// deletion, a resolved duplicate — carries the time of the revision. Only
// a report of every village notes them; a volunteer's, of her villages,
// reads the marks and writes none.
//
// Its types are the only report types: the server builds them, api/wire
// carries them over GetReport, and api/reportfmt renders them (for the
// command line, and for ExportReport), their JSON included. The package knows nothing
// of protobuf.
package report
