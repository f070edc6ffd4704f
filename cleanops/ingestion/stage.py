"""Staging: validated rows into `staging.<pipeline>__<source>`, rejects into quarantine.

One load is one PostgreSQL transaction: table changes, COPY of every chunk, quarantine
rows, the duplicate-key pass, the watermark and the execution log commit together or not
at all, so a failed run leaves staging as it was. The batch id is the Dagster run id:
a retried step first removes what an earlier attempt of the same run wrote, so the same
batch never lands twice.

The transaction opens with a lock on the staging table (a transaction-scoped advisory
lock), so two loads of one source run one after the other: the second starts only once
the first has committed or rolled back, and then sees its file ledger and watermark.

Staged rows carry two columns of their own: `_cleanops_load_id`, which points at the row
of `cleanops.staged_loads` holding the batch id, pipeline, source, origin (file, query or
URL) and load time, and `_cleanops_row_number`, the row's place in its origin. Keeping
the batch, source and origin as text on every row made the server's work per load half
as large again as the data itself.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import psycopg
import pyarrow as pa
from psycopg import sql

from cleanops.ingestion.encode import Payload, encode
from cleanops.ingestion.validate import RejectedRow, ValidatedChunk, Validator
from cleanops.pipelines.naming import staging_table_name

LOAD_ID, ROW_NUMBER = "_cleanops_load_id", "_cleanops_row_number"
QUARANTINE_COLUMNS = ("batch_id", "pipeline_id", "source_id", "origin", "row_number", "error_code",
                      "error_field", "error_message", "raw_record")


# Rejected rows wait in memory for the staging COPY to pause (a connection runs one COPY at
# a time); past this many they are written at once, so memory stays bounded (5,000
# rejected rows with their raw records are a few MB).
REJECTS_HELD_AT_MOST = 5_000


class ConservationError(RuntimeError):
    """Rows read did not equal rows staged plus rows quarantined: the load is rolled back."""


@dataclass
class LoadCounts:
    records_read: int = 0
    records_staged: int = 0
    records_quarantined: int = 0
    rejected_by_code: Counter = field(default_factory=Counter)
    example_by_code: dict[str, str] = field(default_factory=dict)  # first message seen per error code
    bytes_staged: int = 0

    def count_rejects(self, code: str, count: int, example: str) -> None:
        self.records_quarantined += count
        self.rejected_by_code[code] += count
        self.example_by_code.setdefault(code, example)


_COPY_TEXT_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _copy_text(value: Any) -> str:
    """One field of COPY's text format: NULL as \\N, the four special characters escaped.
    Writing the lines ourselves is ~5x cheaper than a Python `write_row` per rejected row."""
    if value is None:
        return "\\N"
    return str(value).translate(_COPY_TEXT_ESCAPES)


def _sanitise(value: Any) -> Any:
    """jsonb cannot hold NUL characters; keep them visible as \\x00."""
    if isinstance(value, str):
        return value.replace("\x00", "\\x00")
    if isinstance(value, dict):
        return {k: _sanitise(v) for k, v in value.items()}
    return value


class _CopyStream:
    """One COPY of staging rows kept open across chunks.

    The server then parses one chunk while the next is being validated and encoded; a
    COPY per chunk made the COPY thread wait for the server after every chunk, and the
    server wait for the next chunk in turn.
    """

    def __init__(self, conn: psycopg.Connection, statement: sql.Composable, payload: Payload):
        self.key = (statement, payload.format)
        self.trailer = payload.trailer
        self.cursor = conn.cursor()
        self._context = self.cursor.copy(statement)
        self.copy = self._context.__enter__()
        if payload.header:
            self.copy.write(payload.header)

    def close(self) -> int:
        """End the COPY; returns the rows the server says it inserted."""
        try:
            if self.trailer:
                self.copy.write(self.trailer)
            self._context.__exit__(None, None, None)
            return self.cursor.rowcount
        finally:
            self.cursor.close()

    def abort(self, error: BaseException) -> None:
        try:
            self._context.__exit__(type(error), error, error.__traceback__)
        except Exception:  # the error that made us abort is the one to report
            pass
        finally:
            self.cursor.close()


class Stager:
    """Writes one load of one source; use as a context manager around the chunks."""

    def __init__(self, connection: psycopg.Connection, *, pipeline_id: str, pipeline_slug: str, source_id: str,
                 batch_id: str, validator: Validator, unique_keys: list[list[str]],
                 on_lock_wait: Callable[[str], None] | None = None):
        self.conn = connection
        self.on_lock_wait = on_lock_wait
        self.pipeline_id = pipeline_id
        self.source_id = source_id
        self.batch_id = batch_id
        self.validator = validator
        self.unique_keys = unique_keys
        self.table = staging_table_name(pipeline_slug, source_id)
        self.staging = sql.Identifier("staging", self.table)
        self.quarantine = sql.Identifier("quarantine", self.table)
        self.columns: list[str] = []
        self.column_types: dict[str, str] = {}  # as the catalog has them, for binary COPY
        self.rows_copied = 0  # as the server reported them, per COPY and duplicate pass
        self.load_ids: dict[str, int] = {}  # origin → its row in cleanops.staged_loads
        self._stream: _CopyStream | None = None
        self._held_rejects: list[RejectedRow] = []
        self.counts = LoadCounts()

    # -- transaction -------------------------------------------------------------------

    def __enter__(self) -> "Stager":
        self.conn.execute("BEGIN")
        # A datetime without an offset means UTC, whatever the server's own TimeZone.
        self.conn.execute("SET LOCAL TimeZone = 'UTC'")
        self._lock_source()
        self._create_quarantine_table()
        if self._batch_committed_before():
            self._remove_earlier_attempt()
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.finish_writes()
            self.conn.execute("COMMIT")
        else:
            if self._stream is not None:
                self._stream.abort(exc)
                self._stream = None
            self.conn.execute("ROLLBACK")

    def _lock_source(self) -> None:
        """Wait for any other load (or quarantine replay) of this staging table to finish.

        Everything a load decides from earlier loads (files to skip, the watermark) must be
        read after this lock, inside the same transaction, or two loads both stage the same file.
        """
        lock_name = f"staging.{self.table}"
        if self.conn.execute("SELECT pg_try_advisory_xact_lock(hashtext(%s))", (lock_name,)).fetchone()[0]:
            return
        if self.on_lock_wait:
            self.on_lock_wait(f"{lock_name}: another load of this source is running; waiting for it to finish")
        self.conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (lock_name,))

    # -- tables ------------------------------------------------------------------------

    def _create_quarantine_table(self) -> None:
        self.conn.execute(sql.SQL("""
            CREATE TABLE IF NOT EXISTS {q} (
                quarantine_id  bigserial PRIMARY KEY,
                batch_id       text NOT NULL,
                pipeline_id    text NOT NULL,
                source_id      text NOT NULL,
                origin         text,
                row_number     bigint,
                error_code     text NOT NULL,
                error_field    text,
                error_message  text NOT NULL,
                raw_record     jsonb NOT NULL,
                status         text NOT NULL DEFAULT 'new',
                quarantined_at timestamptz NOT NULL DEFAULT now(),
                reviewed_at    timestamptz,
                reviewed_by    text
            )""").format(q=self.quarantine))
        self.conn.execute(sql.SQL("CREATE INDEX IF NOT EXISTS {i} ON {q} (batch_id)").format(
            i=sql.Identifier(f"{self.table[:50]}_batch"), q=self.quarantine))
        self.conn.execute(sql.SQL("DELETE FROM {q} WHERE batch_id = %s").format(q=self.quarantine), (self.batch_id,))

    def _ensure_staging_columns(self, columns: list[str]) -> None:
        if self.columns and all(column in self.columns for column in columns):
            return
        self._end_stream()  # table changes need the connection
        types = self.validator.column_types(columns)
        if not self.columns:
            definitions = [sql.SQL("{} {}").format(sql.Identifier(c), sql.SQL(types[c])) for c in columns]
            self.conn.execute(sql.SQL("""
                CREATE TABLE IF NOT EXISTS {t} ({cols} _cleanops_load_id bigint NOT NULL, _cleanops_row_number bigint)
            """).format(t=self.staging, cols=sql.SQL("").join(sql.SQL("{}, ").format(d) for d in definitions)))
        for column in columns:
            if column not in self.columns:
                self.conn.execute(sql.SQL("ALTER TABLE {t} ADD COLUMN IF NOT EXISTS {c} {ty}").format(
                    t=self.staging, c=sql.Identifier(column), ty=sql.SQL(types[column])))
                self.columns.append(column)
                self.column_types = {}
        if not self.column_types:
            self.column_types = dict(self.conn.execute(
                "SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute"
                " WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped",
                (self.staging.as_string(self.conn),)).fetchall())

    def _batch_committed_before(self) -> bool:
        """Whether an earlier attempt of this batch committed (then its rows are replaced).

        Asked of the execution log, written in the same transaction as the rows, instead
        of the staging table: that table has no index on the batch id and grows with every
        load, so looking there would make each load slower than the last.
        """
        return self.conn.execute(
            "SELECT EXISTS (SELECT 1 FROM cleanops.execution_log WHERE run_id = %s AND pipeline_id = %s"
            " AND source_id = %s AND status = 'success')",
            (self.batch_id, self.pipeline_id, self.source_id)).fetchone()[0]

    def _remove_earlier_attempt(self) -> None:
        """Before anything is read, so the retry reads again exactly what the attempt had staged."""
        if self._staging_table_exists():
            loads = sql.SQL("SELECT load_id FROM cleanops.staged_loads WHERE staging_table = %s AND batch_id = %s")
            self.conn.execute(sql.SQL("DELETE FROM {t} WHERE _cleanops_load_id IN ({loads})").format(
                t=self.staging, loads=loads), (self.table, self.batch_id))
        self.conn.execute(sql.SQL("DELETE FROM cleanops.staged_loads WHERE staging_table = %s AND batch_id = %s"),
                          (self.table, self.batch_id))

    def replace_earlier_loads(self) -> None:
        """A full refresh: what earlier loads staged, and their unreviewed quarantine, gives way
        to this load's fresh read of the whole source, in the same transaction (a failed
        refresh leaves everything as it was). Without this a refresh would stage every row
        twice. Quarantined rows someone already reviewed stay as the record of that decision."""
        if self._staging_table_exists():
            self.conn.execute(sql.SQL("DELETE FROM {t}").format(t=self.staging))
        self.conn.execute("DELETE FROM cleanops.staged_loads WHERE staging_table = %s", (self.table,))
        self.conn.execute(sql.SQL("DELETE FROM {q} WHERE status = 'new'").format(q=self.quarantine))

    def _staging_table_exists(self) -> bool:
        return self.conn.execute("SELECT to_regclass(%s) IS NOT NULL",
                                 (self.staging.as_string(self.conn),)).fetchone()[0]

    def ensure_table(self, declared_columns: list[str]) -> None:
        """The staging table exists after every load, even one that read no row (a header-only
        file, a glob matching nothing): the checks and models downstream query it. A load that
        wrote no chunk creates it with the declared columns, typed as declared."""
        self.finish_writes()
        if not self.columns and not self._staging_table_exists():
            self._ensure_staging_columns(list(dict.fromkeys(declared_columns)))

    def table_rows(self) -> int:
        """Rows in the staging table now, with this load's: what the Dagster UI shows as its row count."""
        return self.conn.execute(sql.SQL("SELECT count(*) FROM {t}").format(t=self.staging)).fetchone()[0]

    def _load_id(self, origin: str) -> int:
        """The staged_loads row of this batch and origin, made on the origin's first chunk."""
        if origin not in self.load_ids:
            self.load_ids[origin] = self.conn.execute(
                "INSERT INTO cleanops.staged_loads (staging_table, batch_id, pipeline_id, source_id, origin)"
                " VALUES (%s, %s, %s, %s, %s) RETURNING load_id",
                (self.table, self.batch_id, self.pipeline_id, self.source_id, origin)).fetchone()[0]
        return self.load_ids[origin]

    # -- writing -----------------------------------------------------------------------

    def write(self, chunk: ValidatedChunk, records_read: int) -> None:
        """COPY the valid rows, quarantine the rest; counts are kept for conservation."""
        self.counts.records_read += records_read
        batch = chunk.valid
        self._ensure_staging_columns(list(batch.schema.names))
        if batch.num_rows:
            self._copy_valid(batch, chunk.valid_row_numbers, chunk.origin)
        if chunk.rejected:
            self._hold_rejects(chunk.rejected)

    def finish_writes(self) -> None:
        """End the open COPY and write the rejected rows still held."""
        self._end_stream()
        if self._held_rejects:
            self._quarantine(self._held_rejects)
            self._held_rejects = []

    def _end_stream(self) -> None:
        if self._stream is not None:
            stream, self._stream = self._stream, None
            self.rows_copied += stream.close()

    def _hold_rejects(self, rows: list[RejectedRow]) -> None:
        for row in rows:  # the message of the first row per code is the example; build only that one
            seen = row.error_code in self.counts.example_by_code
            example = "" if seen else f"row {row.row_number} of {row.origin}: {row.error_message}"
            self.counts.count_rejects(row.error_code, 1, example)
        self._held_rejects.extend(rows)
        if len(self._held_rejects) >= REJECTS_HELD_AT_MOST:
            self.finish_writes()

    def _copy_valid(self, batch: pa.RecordBatch, row_numbers: pa.Array, origin: str) -> None:
        n = batch.num_rows
        if origin not in self.load_ids:
            self._end_stream()  # the new origin's staged_loads row needs the connection
        load_id = pa.array(np.full(n, self._load_id(origin), dtype=np.int64))
        table = pa.Table.from_batches([batch]).append_column(LOAD_ID, load_id) \
            .append_column(ROW_NUMBER, row_numbers.cast(pa.int64()))
        payload = encode(table, self.column_types)
        columns = sql.SQL(", ").join(sql.Identifier(c) for c in table.schema.names)
        statement = sql.SQL("COPY {t} ({c}) FROM STDIN WITH ({o})").format(
            t=self.staging, c=columns, o=sql.SQL(payload.copy_options))
        if self._stream is None or self._stream.key != (statement, payload.format):
            self._end_stream()
            self._stream = _CopyStream(self.conn, statement, payload)
        self._stream.copy.write(payload.data)
        self.counts.records_staged += n
        self.counts.bytes_staged += len(payload.data)

    def _quarantine(self, rows: list[RejectedRow]) -> None:
        statement = sql.SQL("COPY {q} ({c}) FROM STDIN").format(
            q=self.quarantine, c=sql.SQL(", ").join(sql.Identifier(c) for c in QUARANTINE_COLUMNS))
        constant = "\t".join(_copy_text(v) for v in (self.batch_id, self.pipeline_id, self.source_id))
        origins: dict[str, str] = {}
        lines = []
        for row in rows:
            raw = row.raw if isinstance(row.raw, dict) else {"_raw_text": row.raw}
            origin = origins.get(row.origin) or origins.setdefault(row.origin, _copy_text(row.origin))
            # json.dumps escapes every control and non-ASCII character: only backslashes remain
            raw_json = json.dumps(_sanitise(raw), default=str).replace("\\", "\\\\")
            lines.append(f"{constant}\t{origin}\t{_copy_text(row.row_number)}\t{row.error_code}\t"
                         f"{_copy_text(row.error_field)}\t{_copy_text(_sanitise(row.error_message))}\t{raw_json}\n")
        with self.conn.cursor() as cursor, cursor.copy(statement) as copy:
            copy.write("".join(lines).encode())

    # -- finishing ---------------------------------------------------------------------

    def move_duplicates(self) -> None:
        """Later rows with a key seen earlier in this load go to quarantine (DUPLICATE_KEY)."""
        self.finish_writes()
        for key in self.unique_keys:
            if not self.columns or any(column not in self.columns for column in key):
                continue
            key_ids = sql.SQL(", ").join(sql.Identifier(c) for c in key)
            not_null = sql.SQL(" AND ").join(sql.SQL("{} IS NOT NULL").format(sql.Identifier(c)) for c in key)
            key_text = ", ".join(key)
            statement = sql.SQL("""
                WITH ranked AS (
                    SELECT ctid AS row_ctid,
                           row_number() OVER (PARTITION BY {keys}
                                              ORDER BY _cleanops_load_id, _cleanops_row_number) AS n
                    FROM {t} WHERE _cleanops_load_id = ANY(%(loads)s) AND {not_null}
                ), moved AS (
                    DELETE FROM {t} s USING ranked r WHERE s.ctid = r.row_ctid AND r.n > 1 RETURNING s.*
                )
                INSERT INTO {q} ({qcols})
                SELECT %(batch)s, %(pipeline)s, %(source)s, l.origin, m._cleanops_row_number,
                       'DUPLICATE_KEY', %(key_text)s,
                       'duplicate key (' || %(key_text)s || ') already seen earlier in this load',
                       to_jsonb(m) - '_cleanops_load_id' - '_cleanops_row_number'
                FROM moved m JOIN cleanops.staged_loads l ON l.load_id = m._cleanops_load_id
            """).format(keys=key_ids, t=self.staging, not_null=not_null, q=self.quarantine,
                        qcols=sql.SQL(", ").join(sql.Identifier(c) for c in QUARANTINE_COLUMNS))
            cursor = self.conn.execute(statement, {"batch": self.batch_id, "pipeline": self.pipeline_id,
                                                   "loads": list(self.load_ids.values()),
                                                   "source": self.source_id, "key_text": key_text})
            moved = cursor.rowcount or 0
            self.counts.records_staged -= moved
            self.rows_copied -= moved
            if moved:
                self.counts.count_rejects("DUPLICATE_KEY", moved, f"duplicate key ({key_text}) in this load")

    def check_conservation(self) -> None:
        """read = staged + quarantined, with the server's own counts: the rows each COPY
        reported inserted (less the duplicates moved out) and the batch's quarantine rows.
        Counting the batch in the staging table would scan all of its history each load."""
        self.finish_writes()
        staged = self.rows_copied
        quarantined = self.conn.execute(sql.SQL("SELECT count(*) FROM {q} WHERE batch_id = %s").format(
            q=self.quarantine), (self.batch_id,)).fetchone()[0]
        c = self.counts
        if staged != c.records_staged or quarantined != c.records_quarantined or \
                c.records_read != staged + quarantined:
            raise ConservationError(
                f"{self.table}: read {c.records_read} rows but staged {staged} and quarantined {quarantined}"
            )

    def record_json(self) -> dict[str, Any]:
        return {"table": f"staging.{self.table}", "quarantine": f"quarantine.{self.table}"}


def dumps(value: Any) -> str:
    return json.dumps(value, default=str)
