"""Back-office picking API."""
