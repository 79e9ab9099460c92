// Package schema defines the program tables once, for both ends of sync.
//
// The server and every device replica create their SQLite tables from the
// definitions here, so a column added in one place reaches both. A table
// is a set of typed columns (the replicated fields) plus sync bookkeeping
// columns whose names start with an underscore; which bookkeeping columns
// a table gets depends on the Role (server or device). The package also
// holds the cell Value type and the checks that tie a value to its column,
// because "does this value fit this field" is a schema question, and the
// rules that live with the data: who may write a table (Writers), the
// column that ties its records to a village (Scope), and the domain
// problems the server flags for staff (Flags). The store reads them; it
// does not switch on table names.
package schema
