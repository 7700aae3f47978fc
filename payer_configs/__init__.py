"""The payer policies bundled with payer-rules (YAML data; this file only makes the folder a package)."""
