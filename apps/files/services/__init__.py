"""Writes of the files context: uploads, files and results, pre-flight validation, downloads, retention."""
