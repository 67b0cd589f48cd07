"""SQLAlchemy mappings, one module per aggregate. Importing this package registers them all."""

from o2c_desktop.models.activities import Activity
from o2c_desktop.models.audit import AuditEntry
from o2c_desktop.models.base import Base
from o2c_desktop.models.collections import (
    AssignmentRule,
    Call,
    CollectionClaim,
    CollectionStrategy,
    DunningLetter,
    DunningLetterItem,
    DunningLevel,
    DunningRun,
    Promise,
    PromiseItem,
)
from o2c_desktop.models.credit import (
    ApplicationChecklistItem,
    ApplicationReference,
    ApprovalAuthority,
    ChecklistTemplate,
    ChecklistTemplateItem,
    CreditApplication,
    CreditDecision,
    Document,
    Order,
    Scorecard,
)
from o2c_desktop.models.customers import Contact, Customer, CustomerSearchTerm, PaymentTerms
from o2c_desktop.models.ledger import (
    Allocation,
    AppSetting,
    Dispute,
    DisputeItem,
    Invoice,
    Payment,
)
from o2c_desktop.models.statements import StatementDelivery
from o2c_desktop.models.users import Role, User, UserRole

__all__ = [
    "Activity",
    "Allocation",
    "AppSetting",
    "ApplicationChecklistItem",
    "ApplicationReference",
    "ApprovalAuthority",
    "AssignmentRule",
    "AuditEntry",
    "Base",
    "Call",
    "ChecklistTemplate",
    "ChecklistTemplateItem",
    "CollectionClaim",
    "CollectionStrategy",
    "Contact",
    "CreditApplication",
    "CreditDecision",
    "Customer",
    "CustomerSearchTerm",
    "Dispute",
    "DisputeItem",
    "Document",
    "DunningLetter",
    "DunningLetterItem",
    "DunningLevel",
    "DunningRun",
    "Invoice",
    "Order",
    "Payment",
    "PaymentTerms",
    "Promise",
    "PromiseItem",
    "Role",
    "Scorecard",
    "StatementDelivery",
    "User",
    "UserRole",
]
