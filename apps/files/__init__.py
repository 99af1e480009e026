"""Resumable uploads, local/S3 storage, VCF pre-flight, results, downloads, retention."""
