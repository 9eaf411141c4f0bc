"""Threshold alerts: their rules (``/api/v1/alert-rules``) and the alerts fired (``/api/v1/alerts``), docs/alerts.md."""
