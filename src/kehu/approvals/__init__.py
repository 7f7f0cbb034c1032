"""Two-person approvals (second person with the right) for sensitive operations: level-1 export, sharing, destruction."""
