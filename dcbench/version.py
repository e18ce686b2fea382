"""dcbench's version: recorded with every result (package versions are not part of keys)."""

__version__ = "0.1.0"
