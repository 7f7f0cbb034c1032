"""Consent and legal basis (PIPL) of collected customer information: purposes, sensitive consent, withdrawal, guardians."""


def allows(session, customer_id: str, purpose: str) -> bool:
    """Whether the customer's consent for this purpose is in force (the check exports and segments use)."""
    from kehu.consent.basis import allows as in_force

    return in_force(session, customer_id, purpose)
