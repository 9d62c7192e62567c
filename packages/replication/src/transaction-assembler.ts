// Groups the rows of a replication stream into transactions (PROTOCOL.md §4.2), as 2.6's
// applier_read_tx does. Layer: replication, no I/O. Rows of one transaction share a tsn (the
// lsn of their first row) and the last one has is_commit; single-row transactions carry
// neither TSN nor FLAGS and decode with tsn = lsn, is_commit = true. Input is a peer's: every
// violation is a typed error with 2.6's code and text, never an assertion.
// Invariant: a transaction handed out has rows of one replica_id, increasing lsns, first
// lsn == tsn, last row is_commit, at most TRANSACTION_ROWS_MAX rows.
import {
  ClientError,
  ErrorCode,
  TRANSACTION_ROWS_MAX,
  VCLOCK_MAX,
  type Xrow,
} from '@tarantype/core';

export class TransactionAssembler {
  private rows: Xrow[] = [];

  /** Rows of the transaction being read (not yet committed). */
  get pending(): number {
    return this.rows.length;
  }

  /** Drops a partial transaction (the connection broke). */
  reset(): void {
    this.rows = [];
  }

  /**
   * Adds one row; returns the whole transaction when this row commits it, else undefined.
   * `replicasetUuid` names the set in ER_UNKNOWN_REPLICA (a replica_id ≥ 32).
   */
  push(row: Xrow, replicasetUuid: string): Xrow[] | undefined {
    if (row.replica_id >= VCLOCK_MAX)
      throw new ClientError(ErrorCode.ER_UNKNOWN_REPLICA, String(row.replica_id), replicasetUuid);
    const first = this.rows[0];
    if (first === undefined) {
      if (row.lsn !== row.tsn)
        throw new ClientError(
          ErrorCode.ER_PROTOCOL,
          'Transaction id must be equal to LSN of the first row in the transaction.',
        );
    } else {
      const previous = this.rows[this.rows.length - 1]!;
      if (row.tsn !== first.tsn || row.replica_id !== first.replica_id)
        throw new ClientError(ErrorCode.ER_UNSUPPORTED, 'replication', 'interleaving transactions');
      if (row.lsn <= previous.lsn)
        throw new ClientError(ErrorCode.ER_INVALID_ORDER, row.replica_id, previous.lsn, row.lsn);
      if (this.rows.length >= TRANSACTION_ROWS_MAX)
        throw new ClientError(
          ErrorCode.ER_PROTOCOL,
          `Transaction has more than ${TRANSACTION_ROWS_MAX} rows`,
        );
    }
    this.rows.push(row);
    if (!row.is_commit) return undefined;
    const transaction = this.rows;
    this.rows = [];
    return transaction;
  }
}
