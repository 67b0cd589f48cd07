"""A realistic demo portfolio: collectors, customers in several countries, contacts.

Fast enough for benchmarks (200,000 customers well under a minute): rows are built as plain dicts
and bulk-inserted (COPY on PostgreSQL) in one transaction, so a cancelled or failed run leaves the
database as it was. Later issues extend it with invoices, payments and applications.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy import func, select

from o2c_desktop.db import Database
from o2c_desktop.db.bulk import advance_sequence, bulk_insert
from o2c_desktop.errors import Cancelled
from o2c_desktop.models import AuditEntry, Contact, Customer, CustomerSearchTerm, Role
from o2c_desktop.models.base import utcnow
from o2c_desktop.services.auth import Actor, Permission
from o2c_desktop.services.search_terms import terms_for
from o2c_desktop.services.users import ensure_user

Progress = Callable[[int, int], None]

PREFIXES = (
    "Nordic",
    "Alpine",
    "Atlas",
    "Baltic",
    "Crown",
    "Delta",
    "Eagle",
    "Falcon",
    "Global",
    "Harbor",
    "Iberia",
    "Jade",
    "Keystone",
    "Lumen",
    "Meridian",
    "Northwind",
    "Orion",
    "Pioneer",
    "Quantum",
    "Riverside",
    "Summit",
    "Titan",
    "Union",
    "Vertex",
    "Westfield",
    "Zürich",
    "Łódź",
    "Ödön",
    "São Paulo",
    "Kraków",
    "Ørsted",
    "Évian",
    "Málaga",
)
CORES = (
    "Steel",
    "Logistics",
    "Foods",
    "Textiles",
    "Pharma",
    "Electronics",
    "Plastics",
    "Paper",
    "Machinery",
    "Chemicals",
    "Furniture",
    "Motors",
    "Packaging",
    "Timber",
    "Glass",
    "Instruments",
    "Solar",
    "Marine",
    "Retail",
    "Software",
    "Optics",
    "Builders",
    "Dairy",
)
SUFFIXES = {
    "DE": "GmbH",
    "AT": "GmbH",
    "CH": "AG",
    "FR": "SAS",
    "ES": "S.L.",
    "IT": "S.r.l.",
    "NL": "B.V.",
    "PL": "Sp. z o.o.",
    "GB": "Ltd",
    "US": "Inc.",
    "SE": "AB",
    "DK": "A/S",
}
CITIES = {
    "DE": [("Berlin", "10115"), ("München", "80331"), ("Köln", "50667")],
    "AT": [("Wien", "1010"), ("Graz", "8010")],
    "CH": [("Zürich", "8001"), ("Genève", "1201")],
    "FR": [("Paris", "75001"), ("Lyon", "69001")],
    "ES": [("Madrid", "28001"), ("Málaga", "29001")],
    "IT": [("Milano", "20121"), ("Torino", "10121")],
    "NL": [("Amsterdam", "1011")],
    "PL": [("Łódź", "90-001"), ("Kraków", "30-001")],
    "GB": [("London", "EC1A 1BB")],
    "US": [("Chicago", "60601"), ("Austin", "73301")],
    "SE": [("Malmö", "211 19")],
    "DK": [("København", "1050")],
}
CURRENCY = {"CH": "CHF", "PL": "PLN", "GB": "GBP", "US": "USD", "SE": "SEK", "DK": "DKK"}
STREETS = (
    "Hauptstraße",
    "Rue de la Paix",
    "Calle Mayor",
    "Via Roma",
    "High Street",
    "Main Street",
    "Ulica Piotrkowska",
    "Storgatan",
    "Kerkstraat",
)
FIRST = (
    "Anna",
    "Ben",
    "Chloé",
    "David",
    "Elif",
    "François",
    "Greta",
    "Hugo",
    "Ines",
    "Jan",
    "Katarzyna",
    "Lukas",
    "María",
    "Nils",
    "Olga",
    "Pedro",
    "Sophie",
    "Tomás",
    "Ulla",
    "Zoë",
)
LAST = (
    "Müller",
    "Dubois",
    "García",
    "Rossi",
    "Nowak",
    "Smith",
    "Jansen",
    "Andersson",
    "Hansen",
    "Schmidt",
    "Łukasiewicz",
    "Øvergaard",
    "Fernández",
    "Bianchi",
    "Weber",
    "Kowalski",
)
SEGMENTS = (
    ("Enterprise", 1),
    ("Mid-market", 3),
    ("Small business", 5),
    ("Public sector", 1),
    ("Distributor", 2),
    ("Retail", 2),
)
RISK = (("A", 2), ("B", 4), ("C", 3), ("D", 1.5), ("E", 0.5))
TERMS = (("NET30", 6), ("NET45", 2), ("NET60", 1.5), ("EOM30", 1), ("2/10N30", 1), ("NET15", 1))
LIMIT_BY_SEGMENT = {
    "Enterprise": (100_000, 2_000_000),
    "Mid-market": (20_000, 300_000),
    "Small business": (2_000, 40_000),
    "Public sector": (50_000, 1_000_000),
    "Distributor": (30_000, 500_000),
    "Retail": (5_000, 80_000),
}
SYLLABLES = (
    "ka",
    "lo",
    "mer",
    "vin",
    "tra",
    "so",
    "nel",
    "ri",
    "dax",
    "bel",
    "or",
    "fen",
    "qui",
    "zan",
    "ter",
    "mo",
    "lux",
    "ven",
    "ar",
    "pol",
    "sy",
    "gen",
    "tor",
    "ma",
)
CHUNK = 10_000


def _company_name(rng: random.Random, country: str) -> str:
    """Three shapes of name, so words repeat as little as in a real ledger."""
    shape = rng.random()
    if shape < 0.4:
        core = f"{rng.choice(PREFIXES)} {rng.choice(CORES)}"
    elif shape < 0.7:
        core = f"{rng.choice(LAST)} & {rng.choice(LAST)}"
    else:
        word = "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 3))).capitalize()
        core = f"{word} {rng.choice(CORES)}"
    return f"{core} {SUFFIXES[country]}"


@dataclass(frozen=True)
class DemoResult:
    customers: int
    contacts: int
    collectors: int


def _weighted(rng: random.Random, pairs: tuple[tuple[str, float], ...]) -> str:
    return rng.choices([p[0] for p in pairs], weights=[p[1] for p in pairs])[0]


def has_customers(db: Database) -> bool:
    with db.read() as session:
        return session.scalar(select(Customer.id).limit(1)) is not None


def generate(
    db: Database,
    actor: Actor,
    customers: int,
    seed: int = 1,
    progress: Progress | None = None,
    cancelled: Callable[[], bool] | None = None,
) -> DemoResult:
    """Add `customers` demo customers (numbered after any that exist), all or nothing."""
    actor.require(Permission.LOAD_DEMO_DATA)
    if customers < 0:
        raise ValueError("the number of customers cannot be negative")
    rng = random.Random(seed)
    n_collectors = max(3, min(50, customers // 4000))
    with db.write() as session:
        collector_ids = [
            ensure_user(
                session,
                f"collector{i:02d}",
                f"{rng.choice(FIRST)} {rng.choice(LAST)}",
                [Role.COLLECTOR],
            ).id
            for i in range(1, n_collectors + 1)
        ]
        ensure_user(session, "clerk01", "Clara Clerk", [Role.CREDIT_CLERK])
        ensure_user(session, "manager01", "Martin Manager", [Role.CREDIT_MANAGER])
        first_id = (session.scalar(select(func.max(Customer.id))) or 0) + 1
        first_contact = (session.scalar(select(func.max(Contact.id))) or 0) + 1
        now = utcnow()
        today = date.today()
        countries = list(CITIES)
        done = 0
        contact_id = first_contact
        while done < customers:
            if cancelled and cancelled():
                raise Cancelled("Demo data cancelled; nothing was added.")
            size = min(CHUNK, customers - done)
            rows, contact_rows, term_rows, audit_rows = [], [], [], []
            for i in range(first_id + done, first_id + done + size):
                country = rng.choice(countries)
                city, postcode = rng.choice(CITIES[country])
                segment = _weighted(rng, SEGMENTS)
                low, high = LIMIT_BY_SEGMENT[segment]
                name = _company_name(rng, country)
                number = f"C{i:07d}"
                tax_id = f"{country}{rng.randrange(10**8, 10**9)}"
                domain = "".join(c for c in name.lower() if c.isascii() and c.isalnum())[:20]
                rows.append(
                    {
                        "id": i,
                        "number": number,
                        "name": name,
                        "legal_name": name,
                        "tax_id": tax_id,
                        "segment": segment,
                        "risk_class": _weighted(rng, RISK),
                        "payment_terms_code": _weighted(rng, TERMS),
                        "currency": CURRENCY.get(country, "EUR"),
                        "credit_limit": Decimal(rng.randrange(low, high) // 500 * 500),
                        "exposure": Decimal(0),
                        "on_hold": rng.random() < 0.02,
                        "hold_reason": None,
                        "collector_id": rng.choice(collector_ids),
                        "email": f"ap@{domain or 'example'}.example",
                        "phone": f"+{rng.randrange(30, 49)} {rng.randrange(100, 999)} "
                        f"{rng.randrange(100000, 999999)}",
                        "address_line1": f"{rng.choice(STREETS)} {rng.randrange(1, 200)}",
                        "address_line2": None,
                        "city": city,
                        "postcode": postcode,
                        "country": country,
                        "next_review_date": today + timedelta(days=rng.randrange(1, 400)),
                        "created_at": now,
                        "created_by_id": actor.user_id or None,
                        "updated_at": now,
                        "updated_by_id": actor.user_id or None,
                        "version": 1,
                    }
                )
                for k in range(1 + (rng.random() < 0.5)):
                    person = f"{rng.choice(FIRST)} {rng.choice(LAST)}"
                    contact_rows.append(
                        {
                            "id": contact_id,
                            "customer_id": i,
                            "name": person,
                            "title": "Accounts payable" if k == 0 else "Finance manager",
                            "email": f"{person.split()[0].lower()}@{domain or 'example'}.example",
                            "phone": f"+{rng.randrange(30, 49)} {rng.randrange(10**6, 10**7)}",
                            "is_primary": k == 0,
                            "receives_statements": k == 0,
                            "notes": None,
                            "updated_at": now,
                            "updated_by_id": actor.user_id or None,
                            "version": 1,
                        }
                    )
                    contact_id += 1
                term_rows.extend(
                    {"term": t, "customer_id": i} for t in terms_for(number, [name], tax_id)
                )
                audit_rows.append(
                    {
                        "at": now,
                        "user_id": actor.user_id or None,
                        "username": actor.username,
                        "action": "create",
                        "table_name": "customers",
                        "record_id": str(i),
                        "record_version": 1,
                        "customer_id": i,
                        "field": None,
                        "old_value": None,
                        "new_value": f"demo data (seed {seed})",
                    }
                )
            bulk_insert(session, Customer.__table__, rows)
            bulk_insert(session, Contact.__table__, contact_rows)
            bulk_insert(session, CustomerSearchTerm.__table__, term_rows)
            bulk_insert(session, AuditEntry.__table__, audit_rows)
            done += size
            if progress:
                progress(done, customers)
        advance_sequence(session, Customer.__table__)
        advance_sequence(session, Contact.__table__)
        return DemoResult(customers, contact_id - first_contact, n_collectors)
