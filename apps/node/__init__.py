"""The reference imputation node: a separate deployable speaking Cloudgene and GA4GH WES; imports no other context."""
