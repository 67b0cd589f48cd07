"""Customer import: every test with `db` runs on SQLite and on PostgreSQL.

Files are written into tmp_path by each test, so what a test feeds the importer is visible next
to what it asserts.
"""

from __future__ import annotations

import csv
import zipfile
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from openpyxl import Workbook
from sqlalchemy import func, select

from o2c_desktop.cli import main
from o2c_desktop.db import Database
from o2c_desktop.errors import Cancelled, O2CError, PermissionDenied, ValidationFailed
from o2c_desktop.models import AuditEntry, Customer
from o2c_desktop.services import customer_import, customers
from o2c_desktop.services.auth import Actor
from o2c_desktop.services.customer_import import ImportReport, import_customers, parse_mapping

HEADER = ["number", "name", "currency", "credit_limit", "payment_terms", "city", "country"]


def write_csv(
    path: Path,
    rows: list[list[str]],
    *,
    delimiter: str = ",",
    encoding: str = "utf-8",
) -> Path:
    with path.open("w", newline="", encoding=encoding) as f:
        csv.writer(f, delimiter=delimiter).writerows(rows)
    return path


def write_xlsx(path: Path, rows: list[list[object]]) -> Path:
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    for row in rows:
        sheet.append(row)
    workbook.save(path)
    return path


def count(db: Database, model: type) -> int:
    with db.read() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def customer(db: Database, actor: Actor, number: str) -> customers.CustomerDetail:
    customer_id = customers.find_customer_id(db, number)
    assert customer_id is not None, number
    return customers.get_customer(db, actor, customer_id)


def audit_rows(
    db: Database, customer_id: int
) -> list[tuple[str, str | None, str | None, str | None]]:
    with db.read() as session:
        rows = session.execute(
            select(AuditEntry.action, AuditEntry.field, AuditEntry.old_value, AuditEntry.new_value)
            .where(AuditEntry.customer_id == customer_id)
            .order_by(AuditEntry.id)
        )
        return [tuple(r) for r in rows]


def sample_rows() -> list[list[str]]:
    return [
        HEADER,
        ["C-100", "Zürich Steel AG", "CHF", "50000", "NET45", "Zürich", "CH"],
        ["C-101", "Nordic Foods AB", "SEK", "12345678901.23", "", "Malmö", "SE"],
        ["C-102", "Alpine Paper GmbH", "", "", "", "", ""],
    ]


# ---------------------------------------------------------------------------------------------
# --map
# ---------------------------------------------------------------------------------------------


def test_parse_mapping_reads_field_equals_column():
    assert parse_mapping(["credit_limit=Limit", " name = Company Name "]) == {
        "credit_limit": "Limit",
        "name": "Company Name",
    }
    assert parse_mapping([]) == {}


@pytest.mark.parametrize("item", ["credit_limit", "=Limit", "credit_limit=", "credit_limit Limit"])
def test_parse_mapping_refuses_malformed_items(item):
    with pytest.raises(O2CError, match="expected FIELD=COLUMN"):
        parse_mapping([item])


def test_parse_mapping_refuses_unknown_fields():
    with pytest.raises(O2CError, match="'limit' is not a customer field; fields are number, name"):
        parse_mapping(["limit=Credit"])


def test_parse_mapping_refuses_a_field_mapped_to_two_columns():
    with pytest.raises(O2CError, match="name is mapped twice"):
        parse_mapping(["name=Company", "name=Firm"])


def test_report_summary():
    report = ImportReport("customers.csv", 120, 100, 15, 5, (), True)
    assert report.summary() == (
        "customers.csv: 120 rows: 100 created, 15 updated, 5 unchanged (dry run: nothing written)"
    )
    report = ImportReport("c.csv", 2000, 2000, 0, 0, ("Notes", "Region"))
    assert report.summary() == (
        "c.csv: 2,000 rows: 2,000 created, 0 updated, 0 unchanged; ignored columns: Notes, Region"
    )


# ---------------------------------------------------------------------------------------------
# Happy paths
# ---------------------------------------------------------------------------------------------


def test_csv_creates_customers_with_exact_amounts_and_defaults(db, admin, tmp_path):
    path = write_csv(tmp_path / "customers.csv", sample_rows())
    report = import_customers(db, admin, path)
    assert report == ImportReport("customers.csv", 3, 3, 0, 0, (), False)
    assert report.summary() == "customers.csv: 3 rows: 3 created, 0 updated, 0 unchanged"

    zurich = customer(db, admin, "C-100")
    assert zurich.values["credit_limit"] == Decimal("50000")
    assert zurich.values["payment_terms"] == "NET45"
    assert zurich.values["country"] == "CH"
    nordic = customer(db, admin, "C-101")
    assert str(nordic.credit_limit) == "12345678901.23"
    assert nordic.values["payment_terms"] == "NET30"  # blank takes the default
    alpine = customer(db, admin, "C-102")
    assert (alpine.currency, alpine.credit_limit, alpine.values["on_hold"]) == (
        "EUR",
        Decimal(0),
        False,
    )
    assert alpine.values["city"] is None
    # Search terms are written, as for a customer created in the dialog.
    found = customers.list_customers(db, admin, customers.CustomerQuery(search="zur ste"))
    assert [r.number for r in found] == ["C-100"]


def test_created_customers_get_one_audit_row_naming_file_and_row(db, admin, tmp_path):
    import_customers(db, admin, write_csv(tmp_path / "customers.csv", sample_rows()))
    nordic = customer(db, admin, "C-101")
    assert audit_rows(db, nordic.id) == [
        ("create", None, None, "imported from customers.csv, row 3")
    ]
    assert nordic.version == 1
    assert nordic.updated_by == admin.display_name


def test_xlsx_numbers_dates_and_booleans(db, admin, manager, collector, tmp_path):
    path = write_xlsx(
        tmp_path / "customers.xlsx",
        [
            [
                "Number",
                "Name",
                "Credit limit",
                "On hold",
                "Next review date",
                "Postcode",
                "collector",
            ],
            [1001, "Atlas Motors", 12345678901.23, False, datetime(2026, 3, 31), 80331, "colin"],
            ["C-2", "Baltic Glass", Decimal("250000.5"), True, date(2026, 1, 2), "1010", None],
            [None, None, None, None, None, None, None],  # blank rows are skipped
        ],
    )
    report = import_customers(db, manager, path)
    assert (report.rows, report.created) == (2, 2)
    atlas = customer(db, admin, "1001")
    assert str(atlas.credit_limit) == "12345678901.23"
    assert atlas.values["next_review_date"] == date(2026, 3, 31)
    assert atlas.values["postcode"] == "80331"
    assert atlas.values["collector"] == "colin"
    assert atlas.values["on_hold"] is False
    baltic = customer(db, admin, "C-2")
    assert baltic.credit_limit == Decimal("250000.5")
    assert baltic.values["on_hold"] is True
    assert baltic.values["next_review_date"] == date(2026, 1, 2)


def test_xlsx_refuses_binary_float_noise(db, admin, tmp_path):
    # openpyxl writes 0.1 + 0.2 as "0.3"; Excel writes a formula's cached value in full.
    path = write_xlsx(
        tmp_path / "noise.xlsx", [["number", "name", "credit_limit"], ["N-1", "N", 7]]
    )
    with zipfile.ZipFile(path) as zf:
        parts = {n: zf.read(n) for n in zf.namelist()}
    sheet = "xl/worksheets/sheet1.xml"
    parts[sheet] = parts[sheet].replace(b"<v>7</v>", b"<v>0.30000000000000004</v>")
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in parts.items():
            zf.writestr(name, data)
    with pytest.raises(ValidationFailed) as caught:
        import_customers(db, admin, path)
    [problem] = caught.value.problems
    assert (problem.row, problem.field, problem.value) == (2, "credit_limit", "0.30000000000000004")
    assert "binary fraction" in problem.message
    assert count(db, Customer) == 0


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        (12345678901.23, Decimal("12345678901.23")),
        (80331.0, Decimal(80331)),
        (0.1, Decimal("0.1")),
        (1e20, Decimal("1E+20")),
        (123456789012.345, Decimal("123456789012.345")),
    ],
)
def test_float_cells_become_the_decimal_typed(cell, expected):
    value = customer_import._from_float(cell)
    assert value == expected
    assert str(value) == str(expected)


@pytest.mark.parametrize("cell", [0.1 + 0.2, 1 / 3, 12345678901234567.0, float("nan")])
def test_float_cells_that_are_not_typed_decimals_are_refused(cell):
    with pytest.raises(ValueError):
        customer_import._from_float(cell)


def test_map_reads_foreign_headers_and_reports_ignored_columns(db, admin, tmp_path):
    path = write_csv(
        tmp_path / "ibm.csv",
        [
            ["customerID", "companyName", "creditLimit", "Region", "currency"],
            ["0001-XYZ", "Acme Widgets Inc.", "75000.00", "EMEA", "USD"],
        ],
    )
    mapping = parse_mapping(["number=customerID", "name=CompanyName", "credit_limit=creditlimit"])
    report = import_customers(db, admin, path, mapping=mapping)
    assert report.created == 1
    assert report.ignored_columns == ("Region",)
    assert "ignored columns: Region" in report.summary()
    acme = customer(db, admin, "0001-XYZ")
    assert (acme.name, acme.credit_limit, acme.currency) == (
        "Acme Widgets Inc.",
        Decimal("75000"),
        "USD",
    )


def test_map_to_a_missing_column_is_refused(db, admin, tmp_path):
    path = write_csv(tmp_path / "c.csv", [["number", "name"], ["1", "A"]])
    with pytest.raises(O2CError, match=r"c.csv: --map credit_limit=Limit: the file has no column"):
        import_customers(db, admin, path, mapping={"credit_limit": "Limit"})


def test_semicolon_file_and_ambiguous_decimal_comma(db, admin, tmp_path):
    good = write_csv(
        tmp_path / "semi.csv",
        [HEADER, ["S-1", "Semi, Colon & Co", "EUR", "1234.56", "NET30", "Wien", "AT"]],
        delimiter=";",
    )
    assert import_customers(db, admin, good).created == 1
    assert customer(db, admin, "S-1").credit_limit == Decimal("1234.56")
    assert customer(db, admin, "S-1").name == "Semi, Colon & Co"

    # In a semicolon file even "1,234" probably means 1.234; the importer refuses it.
    bad = write_csv(
        tmp_path / "comma.csv",
        [HEADER, ["S-2", "Komma GmbH", "EUR", "1,234", "", "", ""]],
        delimiter=";",
    )
    with pytest.raises(ValidationFailed) as caught:
        import_customers(db, admin, bad)
    [problem] = caught.value.problems
    assert (problem.row, problem.field, problem.value) == (2, "credit_limit", "1,234")
    assert "ambiguous" in problem.message

    # Elsewhere a comma that does not group by three is refused as in the dialog.
    quoted = write_csv(tmp_path / "quoted.csv", [HEADER, ["S-3", "Q", "EUR", "12,5", "", "", ""]])
    with pytest.raises(ValidationFailed, match=r"credit_limit \(value '12,5'\): misplaced"):
        import_customers(db, admin, quoted)
    assert count(db, Customer) == 1


def test_tab_delimited_with_grouped_amount(db, admin, tmp_path):
    path = write_csv(
        tmp_path / "tabs.txt",
        [["number", "name", "credit_limit"], ["T-1", "Tab Ltd", "1,234,567.89"]],
        delimiter="\t",
    )
    import_customers(db, admin, path)
    assert customer(db, admin, "T-1").credit_limit == Decimal("1234567.89")


def test_bom_and_windows_1252(db, admin, tmp_path):
    bom = write_csv(
        tmp_path / "bom.csv", [["Number", "Name"], ["B-1", "Łódź Textiles"]], encoding="utf-8-sig"
    )
    assert bom.read_bytes().startswith(b"\xef\xbb\xbf")
    assert import_customers(db, admin, bom).created == 1
    assert customer(db, admin, "B-1").name == "Łódź Textiles"

    utf16 = write_csv(
        tmp_path / "unicode.txt",
        [["number", "name"], ["U-1", "Ørsted A/S"]],
        delimiter="\t",
        encoding="utf-16",
    )
    assert import_customers(db, admin, utf16).created == 1
    assert customer(db, admin, "U-1").name == "Ørsted A/S"

    legacy = write_csv(
        tmp_path / "ansi.csv", [["number", "name"], ["W-1", "Zürich Müller"]], encoding="cp1252"
    )
    assert import_customers(db, admin, legacy).created == 1
    assert customer(db, admin, "W-1").name == "Zürich Müller"


# ---------------------------------------------------------------------------------------------
# Re-import and updates
# ---------------------------------------------------------------------------------------------


def test_reimporting_the_same_file_changes_nothing(db, admin, tmp_path):
    path = write_csv(tmp_path / "customers.csv", sample_rows())
    import_customers(db, admin, path)
    audit_before = count(db, AuditEntry)
    versions = {n: customer(db, admin, n).version for n in ("C-100", "C-101", "C-102")}

    report = import_customers(db, admin, path)
    assert (report.created, report.updated, report.unchanged) == (0, 0, 3)
    assert count(db, AuditEntry) == audit_before
    assert {n: customer(db, admin, n).version for n in versions} == versions

    xlsx = write_xlsx(tmp_path / "customers.xlsx", sample_rows())  # the same data as a workbook
    assert import_customers(db, admin, xlsx).unchanged == 3
    assert count(db, AuditEntry) == audit_before


def test_changed_row_updates_only_that_customer_field_by_field(db, admin, manager, tmp_path):
    import_customers(db, admin, write_csv(tmp_path / "v1.csv", sample_rows()))
    before = customer(db, admin, "C-100")
    rows = sample_rows()
    rows[1] = ["C-100", "Zürich Stahl AG", "CHF", "75000.50", "NET45", "Zürich", "CH"]
    report = import_customers(db, manager, write_csv(tmp_path / "v2.csv", rows))
    assert (report.created, report.updated, report.unchanged) == (0, 1, 2)

    after = customer(db, admin, "C-100")
    assert after.version == before.version + 1
    assert (after.name, after.credit_limit) == ("Zürich Stahl AG", Decimal("75000.50"))
    assert after.updated_by == "Maria"
    updates = [r for r in audit_rows(db, after.id) if r[0] == "update"]
    assert sorted(updates) == [
        ("update", "credit_limit", "50000.00", "75000.50"),
        ("update", "name", "Zürich Steel AG", "Zürich Stahl AG"),
    ]
    # The version recorded lets the edit dialog explain a conflict, as after a dialog edit.
    with db.read() as session:
        recorded = set(
            session.scalars(
                select(AuditEntry.record_version).where(
                    AuditEntry.customer_id == after.id, AuditEntry.action == "update"
                )
            )
        )
    assert recorded == {after.version}
    assert customers.update_customer(db, admin, after.id, after.version, {"city": "Bern"})
    # New name searchable, old one gone.
    found = customers.list_customers(db, admin, customers.CustomerQuery(search="stahl"))
    assert [r.number for r in found] == ["C-100"]
    assert not customers.list_customers(db, admin, customers.CustomerQuery(search="steel"))


def test_only_columns_in_the_file_are_compared(db, admin, tmp_path):
    import_customers(db, admin, write_csv(tmp_path / "full.csv", sample_rows()))
    path = write_csv(tmp_path / "cities.csv", [["number", "city"], ["C-100", "Basel"]])
    report = import_customers(db, admin, path)
    assert (report.updated, report.unchanged) == (1, 0)
    zurich = customer(db, admin, "C-100")
    assert (zurich.values["city"], zurich.name, zurich.credit_limit) == (
        "Basel",
        "Zürich Steel AG",
        Decimal("50000"),
    )


def test_blank_terms_and_currency_keep_an_existing_customers_values(db, admin, tmp_path):
    import_customers(db, admin, write_csv(tmp_path / "a.csv", sample_rows()))
    path = write_csv(
        tmp_path / "b.csv",
        [["number", "currency", "payment_terms", "city"], ["C-100", " ", "", "Basel"]],
    )
    assert import_customers(db, admin, path).updated == 1
    zurich = customer(db, admin, "C-100")
    assert (zurich.currency, zurich.values["payment_terms"], zurich.values["city"]) == (
        "CHF",
        "NET45",
        "Basel",
    )


# ---------------------------------------------------------------------------------------------
# Bad files: refused whole, one line per problem
# ---------------------------------------------------------------------------------------------


def test_bad_rows_refuse_the_whole_file(db, admin, collector, tmp_path):
    import_customers(db, admin, write_csv(tmp_path / "seed.csv", sample_rows()))
    customers_before, audit_before = count(db, Customer), count(db, AuditEntry)
    path = write_csv(
        tmp_path / "bad.csv",
        [
            ["number", "name", "currency", "Limit", "payment_terms", "collector", "email"],
            ["N-1", "Good Customer", "EUR", "100", "NET30", "colin", ""],
            ["N-2", "Bad Limit", "EUR", "lots", "NET30", "", ""],
            ["N-3", "", "EUR", "10", "NET30", "", "not-an-email"],
            ["C-100", "Zürich Steel AG", "CHF", "50000", "NET7", "nobody", ""],
            ["N-4", "Yen Corp", "JPY", "1000.5", "NET30", "", ""],
        ],
    )
    with pytest.raises(ValidationFailed) as caught:
        import_customers(db, admin, path, mapping={"credit_limit": "Limit"})
    error = caught.value
    assert error.source == "bad.csv"
    got = [(p.row, p.field, p.value) for p in error.problems]
    assert got == [
        (3, "Limit", "lots"),
        (4, "name", ""),
        (4, "email", "not-an-email"),
        (5, "payment_terms", "NET7"),
        (5, "collector", "nobody"),
        (6, "Limit", "1000.5"),
    ]
    messages = [p.message for p in error.problems]
    assert messages[0] == "not a number"
    assert messages[1] == "required"
    assert messages[3].startswith("unknown payment terms; one of")
    assert messages[4] == "no active user with that username"
    assert messages[5] == "JPY amounts have at most 0 decimals"
    text = str(error)
    assert text.startswith("bad.csv: 6 problem(s), nothing was saved:")
    assert "row 3, Limit (value 'lots'): not a number" in text
    assert (count(db, Customer), count(db, AuditEntry)) == (customers_before, audit_before)
    assert customers.find_customer_id(db, "N-1") is None


def test_duplicate_number_in_the_file(db, admin, tmp_path):
    path = write_csv(
        tmp_path / "dup.csv",
        [["number", "name"], ["D-1", "First"], ["D-2", "Other"], ["D-1", "Again"]],
    )
    with pytest.raises(ValidationFailed) as caught:
        import_customers(db, admin, path)
    [problem] = caught.value.problems
    assert (problem.row, problem.field, problem.value) == (4, "number", "D-1")
    assert problem.message == "the same customer number is on row 2"
    assert count(db, Customer) == 0


def test_unknown_collector(db, admin, tmp_path):
    path = write_csv(tmp_path / "c.csv", [["number", "name", "Collector"], ["K-1", "Kay", "ghost"]])
    with pytest.raises(ValidationFailed) as caught:
        import_customers(db, admin, path)
    [problem] = caught.value.problems
    assert (problem.row, problem.field, problem.value) == (2, "Collector", "ghost")
    assert problem.message == "no active user with that username"


def test_value_in_a_column_without_a_header(db, admin, tmp_path):
    path = tmp_path / "stray.csv"
    path.write_text("number,name\nX-1,Acme, Inc.\n", encoding="utf-8")
    with pytest.raises(ValidationFailed) as caught:
        import_customers(db, admin, path)
    [problem] = caught.value.problems
    assert (problem.row, problem.field, problem.value) == (2, "column 3", " Inc.")


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("missing.csv", None, "missing.csv: no such file"),
        ("empty.csv", b"", "empty.csv: the file is empty"),
        ("blank.csv", b"\r\n \n", "blank.csv: the file is empty"),
        ("empty.xlsx", b"", "empty.xlsx: the file is empty"),
        ("broken.xlsx", b"this is not a zip file", "broken.xlsx: not a readable XLSX workbook"),
        ("zip.csv", b"PK\x03\x04\x00\x00binary", "zip.csv: not a text"),
        ("old.xls", b"\xd0\xcf\x11\xe0", "old.xls: not a CSV or XLSX file"),
        ("nonumber.csv", b"name,city\nA,B\n", "nonumber.csv: no column for the customer number"),
        ("twice.csv", b"number,Name,name\n1,A,B\n", "columns 'Name' and 'name' would both be read"),
    ],
)
def test_unreadable_files_give_one_clear_error(db, admin, tmp_path, name, content, message):
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(O2CError) as caught:
        import_customers(db, admin, path)
    assert message in str(caught.value)
    assert not isinstance(caught.value, ValidationFailed)


def test_zip_that_is_not_a_workbook(db, admin, tmp_path):
    path = tmp_path / "other.xlsx"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("hello.txt", "not a workbook")
    with pytest.raises(O2CError, match=r"other\.xlsx: not a readable XLSX workbook"):
        import_customers(db, admin, path)


def test_credit_limit_too_large_for_the_database(db, admin, tmp_path):
    path = write_csv(
        tmp_path / "big.csv", [["number", "name", "credit_limit"], ["G-1", "Giant", "1e15"]]
    )
    with pytest.raises(ValidationFailed, match=r"row 2, credit_limit \(value '1e15'\): too large"):
        import_customers(db, admin, path)


def test_a_long_list_of_problems_is_cut_short(db, admin, tmp_path, monkeypatch):
    monkeypatch.setattr(customer_import, "MAX_PROBLEMS", 3)
    rows = [["number", "name", "country"]] + [[f"X-{i}", "X", "??"] for i in range(10)]
    with pytest.raises(ValidationFailed) as caught:
        import_customers(db, admin, write_csv(tmp_path / "many.csv", rows))
    problems = caught.value.problems
    assert [p.row for p in problems] == [2, 3, 4, None]
    assert problems[-1].message.startswith("7 more problems not listed")


def test_header_only_file_imports_nothing(db, admin, tmp_path):
    path = write_csv(tmp_path / "h.csv", [HEADER])
    assert import_customers(db, admin, path).summary() == (
        "h.csv: 0 rows: 0 created, 0 updated, 0 unchanged"
    )


# ---------------------------------------------------------------------------------------------
# Dry run, permissions, progress, cancel
# ---------------------------------------------------------------------------------------------


def test_dry_run_writes_nothing(db, admin, tmp_path):
    import_customers(db, admin, write_csv(tmp_path / "seed.csv", sample_rows()[:2]))
    audit_before = count(db, AuditEntry)
    rows = sample_rows()
    rows[1][3] = "60000"
    report = import_customers(db, admin, write_csv(tmp_path / "c.csv", rows), dry_run=True)
    assert (report.created, report.updated, report.unchanged, report.dry_run) == (2, 1, 0, True)
    assert report.summary().endswith("(dry run: nothing written)")
    assert count(db, Customer) == 1
    assert count(db, AuditEntry) == audit_before
    assert customer(db, admin, "C-100").credit_limit == Decimal("50000")


def test_dry_run_still_reports_problems(db, admin, tmp_path):
    path = write_csv(tmp_path / "c.csv", [["number", "name", "country"], ["1", "A", "XX"]])
    with pytest.raises(ValidationFailed, match=r"row 2, country \(value 'XX'\): not an ISO"):
        import_customers(db, admin, path, dry_run=True)


def test_clerk_may_not_import_credit_limits(db, admin, clerk, tmp_path):
    path = write_csv(
        tmp_path / "limits.csv", [["number", "name", "credit_limit"], ["L-1", "Limit Ltd", "5000"]]
    )
    with pytest.raises(PermissionDenied) as caught:
        import_customers(db, clerk, path)
    assert "limits.csv: row 2, column 'credit_limit': Clara" in str(caught.value)
    assert "may not change credit terms" in str(caught.value)
    assert count(db, Customer) == 0


def test_clerk_may_import_details_and_unchanged_limits(db, admin, clerk, tmp_path):
    import_customers(db, admin, write_csv(tmp_path / "seed.csv", sample_rows()))
    rows = sample_rows()
    rows[1][5] = "Basel"  # a detail changes; the credit limit columns stay as stored
    rows.append(["C-103", "New Clerk Customer", "EUR", "0", "NET30", "Paris", "FR"])
    report = import_customers(db, clerk, write_csv(tmp_path / "c.csv", rows))
    assert (report.created, report.updated, report.unchanged) == (1, 1, 2)


def test_collector_may_not_import(db, admin, collector, tmp_path):
    path = write_csv(tmp_path / "c.csv", [["number", "name"], ["1", "A"]])
    with pytest.raises(PermissionDenied, match="may not import customers"):
        import_customers(db, collector, path)


def test_progress_and_cancel(db, admin, tmp_path, monkeypatch):
    monkeypatch.setattr(customer_import, "CHUNK", 10)
    rows = [["number", "name"]] + [[f"P-{i:03d}", f"Customer {i}"] for i in range(25)]
    path = write_csv(tmp_path / "p.csv", rows)
    seen: list[tuple[int, int]] = []
    import_customers(db, admin, path, progress=lambda done, total: seen.append((done, total)))
    assert seen[-1] == (50, 50)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)
    assert count(db, Customer) == 25

    rows = [["number", "name"]] + [[f"Q-{i:03d}", f"Customer {i}"] for i in range(25)]
    calls = []

    def cancelled() -> bool:
        calls.append(1)
        return len(calls) > 3

    with pytest.raises(Cancelled):
        import_customers(db, admin, write_csv(tmp_path / "q.csv", rows), cancelled=cancelled)
    assert count(db, Customer) == 25


# ---------------------------------------------------------------------------------------------
# The command line
# ---------------------------------------------------------------------------------------------


def cli_url(db: Database) -> str:
    if db.kind == "sqlite":
        return f"sqlite:///{db.sqlite_path}"
    return db.url.render_as_string(hide_password=False)


def test_cli_import_good_file(db, admin, tmp_path, capsys):
    path = write_csv(tmp_path / "customers.csv", sample_rows())
    rc = main(["--database", cli_url(db), "import", "customers", str(path), "--dry-run"])
    assert rc == 0
    assert capsys.readouterr().out.strip() == (
        "customers.csv: 3 rows: 3 created, 0 updated, 0 unchanged (dry run: nothing written)"
    )
    assert count(db, Customer) == 0

    rc = main(["--database", cli_url(db), "import", "customers", str(path)])
    assert rc == 0
    assert capsys.readouterr().out.strip() == (
        "customers.csv: 3 rows: 3 created, 0 updated, 0 unchanged"
    )
    assert count(db, Customer) == 3


def test_cli_import_with_map(db, admin, tmp_path, capsys):
    path = write_csv(tmp_path / "ibm.csv", [["customerID", "Company"], ["I-1", "Ibm-like"]])
    argv = ["--database", cli_url(db), "import", "customers", str(path)]
    rc = main([*argv, "--map", "number=customerID", "--map", "name=Company"])
    assert rc == 0
    assert "1 created" in capsys.readouterr().out
    rc = main([*argv, "--map", "nmae=Company"])
    assert rc == 1
    assert "'nmae' is not a customer field" in capsys.readouterr().err


def test_cli_import_bad_file(db, admin, tmp_path, capsys):
    path = write_csv(
        tmp_path / "bad.csv",
        [
            ["number", "name", "credit_limit"],
            ["B-1", "Fine", "10"],
            ["B-2", "Bad", "ten"],
            ["B-1", "Twice", "1"],
        ],
    )
    rc = main(["--database", cli_url(db), "import", "customers", str(path)])
    assert rc == 1
    out = capsys.readouterr()
    assert out.out == ""
    assert "o2c-desktop: bad.csv: 2 problem(s), nothing was saved:" in out.err
    assert "  row 3, credit_limit (value 'ten'): not a number" in out.err
    assert "  row 4, number (value 'B-1'): the same customer number is on row 2" in out.err
    assert "Traceback" not in out.err
    assert count(db, Customer) == 0


def test_cli_missing_file(db, admin, tmp_path, capsys):
    rc = main(["--database", cli_url(db), "import", "customers", str(tmp_path / "nope.csv")])
    assert rc == 1
    assert "o2c-desktop: nope.csv: no such file" in capsys.readouterr().err
