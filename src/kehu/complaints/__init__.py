"""Complaints (投诉): register → investigate → countermeasure → handle → evaluate → close (SPEC §5)."""
