"""Users, departments, roles, grants; the Principal and the one policy that checks every access."""
