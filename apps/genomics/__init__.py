"""VCF inspection and validation library; no models."""
