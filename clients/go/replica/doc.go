// Package replica is the device side of villagesync: a SQLite replica
// that a phone app (through gomobile) or a tool embeds.
//
// Local writes commit to the device's SQLite file first (so a killed app
// loses nothing it reported as saved) and bump the device's own entry of
// the record's version vector, stamping each written field with a dot.
// Sync pushes what the server has not acknowledged and pulls what the
// device has not seen, in one request per page. The device never merges
// concurrent versions itself: the server does, and hands back the result,
// so every conflict is decided and logged in one place. A pulled page and
// its cursor commit in one transaction, so a cut link resumes where it was.
//
// The sync loop speaks the engine's round trip (sync/protocol) to a
// Transport; the one devices use is Connect RPC (connect.go), which owns
// the wire conversion, retries, rate-limit waits and the words a volunteer
// sees when the link fails.
//
// Photos travel apart from records, in the attachment lane (attach.go,
// lane.go): Attach keeps one in the device's file for a record to name by
// digest, UploadAttachments sends those whose records the server has
// acknowledged, resuming from what the server holds after a cut, beside
// Sync and never holding it up, and Attachment fetches another device's
// lazily, in ranges, keeping it in the file while a record here names it.
//
// The volunteer forms (LogSession, ReportCleanup, Lend, Return) and the
// import's column checks hold the defaults and rules that every front end
// would otherwise copy: a command line or a phone app only fills them in.
package replica
