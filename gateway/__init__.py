"""The thin gateway every request enters: health probes now; route table and reverse proxy next."""
