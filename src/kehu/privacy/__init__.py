"""Privacy operations: customers' rights requests, retention and destruction, erasure, sharing with third parties."""
