"""SQLAlchemy mappings, one module per aggregate. Importing this package registers them all."""

from o2c_desktop.models.activities import Activity
from o2c_desktop.models.audit import AuditEntry
from o2c_desktop.models.base import Base
from o2c_desktop.models.customers import Contact, Customer, CustomerSearchTerm, PaymentTerms
from o2c_desktop.models.users import Role, User, UserRole

__all__ = [
    "Activity",
    "AuditEntry",
    "Base",
    "Contact",
    "Customer",
    "CustomerSearchTerm",
    "PaymentTerms",
    "Role",
    "User",
    "UserRole",
]
