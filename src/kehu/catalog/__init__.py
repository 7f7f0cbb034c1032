"""The field catalogue: one declaration per field drives storage, masking, access, audit, export, erasure."""
