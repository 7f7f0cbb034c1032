"""Kehu 客户 — privacy-first customer information management."""
__version__ = "0.1.0"
