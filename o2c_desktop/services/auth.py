"""Who is acting, and what each role may do. Checked in the services, not only in the screens."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from o2c_desktop.errors import PermissionDenied
from o2c_desktop.models.users import Role

ALL_ROLES = frozenset(Role)
MANAGERS = frozenset({Role.CREDIT_MANAGER, Role.ADMINISTRATOR})
OFFICE = frozenset({Role.CREDIT_CLERK, Role.CREDIT_MANAGER, Role.ADMINISTRATOR})


class Permission(Enum):
    """An action and the roles allowed to take it. The text completes "may not …"."""

    VIEW_CUSTOMERS = ("view customers", ALL_ROLES)
    CREATE_CUSTOMER = ("create customers", OFFICE)
    EDIT_CUSTOMER_DETAILS = ("edit customer details (names, address, segment, currency)", OFFICE)
    EDIT_CREDIT_TERMS = (
        "change credit terms (credit limit, risk class, payment terms, hold, review date)",
        MANAGERS,
    )
    ASSIGN_COLLECTOR = ("assign collectors", MANAGERS)
    DELETE_CUSTOMER = ("delete customers", frozenset({Role.ADMINISTRATOR}))
    EDIT_CONTACTS = ("edit contacts", ALL_ROLES)
    ADD_NOTE = ("add notes", ALL_ROLES)
    IMPORT_CUSTOMERS = ("import customers", OFFICE)
    LOAD_DEMO_DATA = ("load demo data", frozenset({Role.ADMINISTRATOR}))
    MANAGE_USERS = ("manage users and roles", frozenset({Role.ADMINISTRATOR}))
    POST_LEDGER = ("post invoices, credit notes and payments", OFFICE)
    APPLY_CASH = ("apply or reverse cash and credit notes", OFFICE)
    WRITE_OFF = ("write off open amounts", MANAGERS)
    MANAGE_DISPUTES = ("raise and work disputes", ALL_ROLES)
    IMPORT_LEDGER = ("import invoices and payments", OFFICE)
    VIEW_REPORTS = ("view AR reports", ALL_ROLES)
    EDIT_SETTINGS = ("change department settings", MANAGERS)
    PRINT_STATEMENTS = ("print and send statements", ALL_ROLES)
    WORK_COLLECTIONS = ("work the call list: log calls, promises and follow-ups", ALL_ROLES)
    VIEW_ALL_PORTFOLIOS = ("see every collector's portfolio and results", MANAGERS)
    MANAGE_STRATEGIES = ("edit collection strategies and assignment rules", MANAGERS)
    RUN_DUNNING = ("run dunning and produce reminder letters", OFFICE)
    PREPARE_APPLICATIONS = (
        "prepare credit applications and move them through verification",
        OFFICE,
    )
    VERIFY_CHECKLIST = ("verify checklist items and attach documents", OFFICE)
    WAIVE_CHECKLIST = ("waive checklist items", MANAGERS)
    # Deciding and releasing also need an approval authority in the currency (credit_authority):
    # a clerk has the permission but, by default, no authority, so the refusal names the amount.
    DECIDE_APPLICATIONS = ("approve or decline credit applications", OFFICE)
    MANAGE_CREDIT_POLICY = (
        "edit checklist templates, scorecards, approval authorities and the credit policy",
        frozenset({Role.ADMINISTRATOR}),
    )
    ENTER_ORDERS = ("enter and import orders", OFFICE)
    RELEASE_ORDERS = ("release or reject held orders", OFFICE)

    @property
    def text(self) -> str:
        return self.value[0]

    @property
    def roles(self) -> frozenset[Role]:
        return self.value[1]


@dataclass(frozen=True)
class Actor:
    """The signed-in user as services see it: enough to check permissions and sign audit rows."""

    user_id: int
    username: str
    display_name: str
    roles: frozenset[Role]

    def may(self, permission: Permission) -> bool:
        return bool(self.roles & permission.roles)

    def require(self, permission: Permission) -> None:
        if not self.may(permission):
            raise PermissionDenied(refusal(self, permission))

    @property
    def roles_text(self) -> str:
        return ", ".join(sorted(r.label for r in self.roles)) or "no role"


def refusal(actor: Actor, permission: Permission) -> str:
    allowed = " or ".join(sorted(r.label for r in permission.roles))
    return (
        f"{actor.display_name} ({actor.roles_text}) may not {permission.text}: "
        f"that needs the role {allowed}."
    )
