"""O2C Desktop: an open-source credit-and-collections workstation."""

__version__ = "0.1.0"
