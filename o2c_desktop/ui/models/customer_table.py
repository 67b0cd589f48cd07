"""The customer list's columns over the SQL-paged model."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from o2c_desktop.services.customer_fields import RISK_CLASSES
from o2c_desktop.services.customers import CustomerQuery, CustomerRow
from o2c_desktop.ui import formatting
from o2c_desktop.ui.models.columns import Column
from o2c_desktop.ui.models.paged_table import PagedTableModel

COLUMNS = (
    Column("number", "Number", lambda r: r.number),
    Column("name", "Name", lambda r: r.name),
    Column("segment", "Segment", lambda r: r.segment),
    Column(
        "risk_class",
        "Risk",
        lambda r: r.risk_class,
        lambda r: RISK_CLASSES.get(r.risk_class or "", ""),
    ),
    Column("collector", "Collector", lambda r: r.collector),
    Column(
        "credit_limit",
        "Credit limit",
        lambda r: r.credit_limit,
        lambda r: formatting.amount(r.credit_limit),
        numeric=True,
    ),
    Column(
        "exposure",
        "Exposure",
        lambda r: r.exposure,
        lambda r: formatting.amount(r.exposure),
        numeric=True,
    ),
    Column(
        "utilization",
        "Utilization",
        lambda r: r.utilization,
        lambda r: formatting.percent(r.utilization),
        numeric=True,
        tooltip=lambda r: (
            f"Exposure {formatting.money(r.exposure, r.currency)} of "
            f"{formatting.money(r.credit_limit, r.currency)}"
        ),
    ),
    Column("on_hold", "On hold", lambda r: r.on_hold),
)
EXPORT_COLUMNS = (Column("currency", "Currency", lambda r: r.currency),)


class CustomerTableModel(PagedTableModel):
    def __init__(
        self,
        fetch: Callable[[CustomerQuery, int, int], list[CustomerRow]],
        count: Callable[[CustomerQuery], int],
        parent: Any = None,
    ):
        super().__init__(COLUMNS, CustomerQuery(), fetch, count, parent)
