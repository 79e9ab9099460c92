// The device's tables, as the Go replica makes them: the program tables
// by schema/ddl.go's Table.DDL(schema.Device), mirrored here over the
// columns in schema.gen.ts, and the bookkeeping tables of
// clients/go/replica/migrations. The sync columns (_vv, _dots, _tomb)
// hold JSON text here, not sync/sqlite's binary encoding: a device file
// is never shared between the two implementations.
import { tableOrder, tables } from "../rules/schema.gen";
import type { ColumnType, Table } from "../rules/schema.gen";

/** A column's SQLite type on the device. */
export function sqlType(c: { type: ColumnType }): string {
  const t = c.type;
  switch (t) {
    case "integer":
      return "INTEGER";
    case "real":
      return "REAL";
    default:
      return "TEXT";
  }
}

/** The statements creating t on a device (schema.Table.DDL(Device)). */
export function tableDDL(t: Table): string[] {
  const cols = ["id TEXT PRIMARY KEY NOT NULL", ...t.columns.map((c) => `${c.name} ${sqlType(c)}`)];
  cols.push("_vv BLOB NOT NULL, _dots BLOB NOT NULL, _tomb BLOB, _deleted INTEGER NOT NULL DEFAULT 0");
  cols.push("_own INTEGER NOT NULL DEFAULT 0, _acked INTEGER NOT NULL DEFAULT 0, _gen INTEGER NOT NULL DEFAULT 0, _seq INTEGER NOT NULL DEFAULT 0");
  return [
    `CREATE TABLE IF NOT EXISTS ${t.name} (${cols.join(", ")}) WITHOUT ROWID`,
    `CREATE INDEX IF NOT EXISTS ${t.name}_pending ON ${t.name}(_own) WHERE _own > _acked`,
  ];
}

/** Every table in schema order (schema.Tables()): the order pending
 * changes are pushed in. */
export const allTables: readonly Table[] = tableOrder.map((n) => tables[n]);

export const bookkeepingDDL = [
  `CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY NOT NULL, value NOT NULL) WITHOUT ROWID`,
  `CREATE TABLE IF NOT EXISTS rejected (id INTEGER PRIMARY KEY AUTOINCREMENT, tbl TEXT NOT NULL,
     record_id TEXT NOT NULL, counter INTEGER NOT NULL, code TEXT NOT NULL, message TEXT NOT NULL,
     change TEXT NOT NULL, rejected_ms INTEGER NOT NULL)`,
  `CREATE TABLE IF NOT EXISTS own_deletes (tbl TEXT NOT NULL, record_id TEXT NOT NULL, vv BLOB NOT NULL,
     tomb BLOB NOT NULL, PRIMARY KEY (tbl, record_id)) WITHOUT ROWID`,
];

/** All statements making an empty device database. */
export function deviceDDL(): string[] {
  return [...bookkeepingDDL, ...allTables.flatMap(tableDDL)];
}

