// The storage the replica is written against: the same three calls as
// the app's OPFS worker client (../app/db.ts's Db), so that client backs
// it in the app and an in-memory SQLite wasm backs it in the Go test that
// plays the protocol scenarios under Node.
import type { Row, SqlValue, Statement } from "../app/protocol";

export type { Row, SqlValue, Statement } from "../app/protocol";

export interface Db {
  /** Runs one statement that returns no rows; resolves to the rows changed. */
  exec(sql: string, bind?: SqlValue[]): Promise<number>;
  query(sql: string, bind?: SqlValue[]): Promise<Row[]>;
  /** Runs the statements in one transaction: all of them or none. */
  transaction(statements: Statement[]): Promise<number>;
}
