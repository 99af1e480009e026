"""Protocol clients for external imputation services (Cloudgene, GA4GH WES, DRS); no models."""
