// Keeps strata_fakes non-empty while the seam has no fakes yet.
