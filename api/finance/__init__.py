"""Finance endpoints (``/api/v1/finance``)."""
