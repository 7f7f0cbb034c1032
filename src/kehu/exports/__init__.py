"""Controlled export of customer lists (CSV / Excel): only what the exporter may see, watermarked, audited."""
