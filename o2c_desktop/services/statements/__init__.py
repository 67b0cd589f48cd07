"""Customer statements: the data (data.py), the PDF (render.py), one file (output.py), and the
month-end batch across processes (batch.py). The screens and the command line use only what
this package exports."""

from o2c_desktop.services.statements.batch import (
    BatchResult,
    BatchSelection,
    run_batch,
    select_customers,
)
from o2c_desktop.services.statements.data import (
    KINDS,
    StatementData,
    StatementKind,
    StatementRequest,
    statement_data,
)
from o2c_desktop.services.statements.output import (
    StatementFile,
    render_statement,
    write_statement,
)

__all__ = [
    "KINDS",
    "BatchResult",
    "BatchSelection",
    "StatementData",
    "StatementFile",
    "StatementKind",
    "StatementRequest",
    "render_statement",
    "run_batch",
    "select_customers",
    "statement_data",
    "write_statement",
]
