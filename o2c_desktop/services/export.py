"""Write a table to CSV or XLSX, streamed, so a 200,000-row export never holds it all in memory."""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable, Sequence
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from o2c_desktop.errors import Cancelled, O2CError

FORMATS = {".csv": "CSV", ".xlsx": "Excel workbook"}


def _csv_value(value: Any) -> Any:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, date | datetime):
        return value.isoformat()
    return "" if value is None else value


def _xlsx_value(value: Any) -> Any:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, datetime):
        return value.replace(tzinfo=None)
    return value


def export_table(
    path: str | Path,
    headers: Sequence[str],
    batches: Iterable[Sequence[Sequence[Any]]],
    *,
    total: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    cancelled: Callable[[], bool] | None = None,
) -> int:
    """Write header + rows to `path` (format from its extension); returns the number of rows.

    A cancelled or failed export removes the partial file rather than leaving half a table.
    """
    target = Path(path)
    suffix = target.suffix.lower()
    if suffix not in FORMATS:
        raise O2CError(f"Cannot export to {target.name}: choose a .csv or .xlsx file name")
    written = 0
    try:
        if suffix == ".csv":
            with target.open("w", newline="", encoding="utf-8-sig") as handle:
                writer = csv.writer(handle)
                writer.writerow(headers)
                for batch in batches:
                    _check(cancelled)
                    writer.writerows([_csv_value(v) for v in row] for row in batch)
                    written += len(batch)
                    if progress:
                        progress(written, total or written)
        else:
            from openpyxl import Workbook

            book = Workbook(write_only=True)
            sheet = book.create_sheet("Export")
            sheet.append(list(headers))
            for batch in batches:
                _check(cancelled)
                for row in batch:
                    sheet.append([_xlsx_value(v) for v in row])
                written += len(batch)
                if progress:
                    progress(written, total or written)
            book.save(target)
    except OSError as exc:
        target.unlink(missing_ok=True)
        raise O2CError(f"Cannot write {target}: {exc.strerror or exc}") from None
    except BaseException:
        target.unlink(missing_ok=True)
        raise
    return written


def _check(cancelled: Callable[[], bool] | None) -> None:
    if cancelled and cancelled():
        raise Cancelled("Export cancelled; no file was written.")
