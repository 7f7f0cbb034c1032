"""Consent and legal basis (PIPL) of collected customer information: purposes, sensitive consent, withdrawal, guardians."""
