"""Detection heads: each maps the pyramid to a dict of raw per-level tensors."""
