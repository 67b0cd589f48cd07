"""PySide6 screens. Nothing here imports SQLAlchemy: screens call services and show values."""
