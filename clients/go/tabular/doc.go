// Package tabular reads the files people bring to a bulk import — JSON
// lines, CSV and Excel workbooks — into rows of text cells keyed by column
// name, each with the line or sheet row it came from. It knows nothing of
// the schema: the replica parses and checks the cells, and reports a bad
// value by the line this package recorded, so a volunteer can find it in
// the file she opened. What cannot be read at all (an unknown format, a
// header with a nameless or repeated column) is an error about the file;
// a line that cannot be read is listed in an *Error with every other such
// line, so one pass over a file names all its problems.
package tabular
