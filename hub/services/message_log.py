"""The message log: every delivery with its document, filtered, paged by key, exported as CSV.

Theory of operation. A page is one short read (:meth:`hub.ports.DeliveryRepository.log`):
deliveries newest first by ``(created_at, id)``. The cursor of the next page is the key of the
last row shown, so a page never repeats or skips a row when new deliveries arrive between two
clicks (an offset would shift by as many). The CSV export walks the same pages, each in a unit
of work of its own, and yields bytes as it goes: an export of a year of traffic never holds
more than one page in memory nor one transaction open for minutes.

Hazards:

* The CSV is read by Excel: it starts with a UTF-8 byte-order mark (without one, Excel reads
  Vietnamese as cp1252 mojibake) and a cell that starts with ``=``, ``+``, ``-``, ``@``, tab or
  carriage return gets a leading apostrophe — subjects come from outside, and Excel would run
  ``=HYPERLINK(…)`` as a formula (CSV injection, OWASP).
* Times in the CSV are ISO 8601 in Vietnam's time (+07:00), the offset written out.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from hub.delivery import describe
from hub.errors import InvalidRequest
from hub.ports import DeliveryRow, DocumentRow, LogFilter, UnitOfWorkFactory

#: Rows per page of the console's log, and per read of the CSV export.
PAGE_SIZE = 50
EXPORT_PAGE = 500
_VN = dt.timezone(dt.timedelta(hours=7))
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")

CSV_HEADER = (
    "created_at",
    "doc_id",
    "document_id",
    "code_number",
    "code_notation",
    "subject",
    "kind",
    "business_type",
    "sender_code",
    "sender_system",
    "recipient_code",
    "resolved_code",
    "route",
    "destination",
    "delivery_id",
    "state",
    "state_vi",
    "business_status",
    "business_status_desc",
    "business_status_at",
    "remote_status",
    "last_error",
    "updated_at",
)


@dataclass(frozen=True, slots=True)
class LogPage:
    """One page of the message log and the cursor of the next one (``None``: the last page)."""

    rows: Sequence[tuple[DeliveryRow, DocumentRow]]
    next_cursor: str | None


def cursor_of(row: DeliveryRow) -> str:
    """The opaque key of ``row`` in the log's order: ``<created_at µs since epoch>.<id>``."""
    micros = round(row.created_at.timestamp() * 1_000_000)
    return f"{micros}.{row.id}"


def parse_cursor(cursor: str) -> tuple[dt.datetime, str]:
    """The key :func:`cursor_of` wrote; :class:`InvalidRequest` for anything else."""
    micros, sep, key = cursor.partition(".")
    try:
        if not sep or not key:
            raise ValueError(cursor)
        at = dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(microseconds=int(micros))
    except (ValueError, OverflowError) as exc:
        raise InvalidRequest(
            f"bad page cursor {cursor[:80]!r}",
            message_vi="con trỏ trang không hợp lệ",
            code="log.cursor",
        ) from exc
    return at, key


def read_page(
    uow: UnitOfWorkFactory, where: LogFilter, *, cursor: str | None = None, limit: int = PAGE_SIZE
) -> LogPage:
    """The page after ``cursor`` (the first page without one)."""
    limit = max(1, min(limit, EXPORT_PAGE))
    before = parse_cursor(cursor) if cursor else None
    with uow() as u:
        rows = list(u.deliveries.log(where, before=before, limit=limit + 1))
    more = len(rows) > limit
    rows = rows[:limit]
    return LogPage(rows, cursor_of(rows[-1][0]) if more and rows else None)


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return value.astimezone(_VN).isoformat(timespec="seconds")
    text = str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def csv_row(d: DeliveryRow, doc: DocumentRow) -> list[str]:
    """One line of the export, in :data:`CSV_HEADER`'s order."""
    values: tuple[object, ...] = (
        d.created_at,
        doc.id,
        doc.document_id,
        doc.code_number,
        doc.code_notation,
        doc.subject,
        str(doc.kind),
        doc.business_type,
        doc.sender_code,
        doc.sender_system,
        d.recipient_code,
        d.resolved_code,
        d.route,
        d.peer_name or d.system_id,
        d.id,
        d.state,
        describe(d.state),
        d.business_status,
        d.business_status_desc,
        d.business_status_at,
        d.remote_status,
        d.last_error,
        d.updated_at,
    )
    return [_cell(v) for v in values]


def export_csv(uow: UnitOfWorkFactory, where: LogFilter) -> Iterator[bytes]:
    """The whole log under ``where`` as CSV bytes (BOM, header, rows), one page at a time."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(CSV_HEADER)
    yield b"\xef\xbb\xbf" + buffer.getvalue().encode("utf-8")
    cursor: str | None = None
    while True:
        page = read_page(uow, where, cursor=cursor, limit=EXPORT_PAGE)
        buffer.seek(0)
        buffer.truncate()
        writer.writerows(csv_row(d, doc) for d, doc in page.rows)
        if page.rows:
            yield buffer.getvalue().encode("utf-8")
        if page.next_cursor is None:
            return
        cursor = page.next_cursor
