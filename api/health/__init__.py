"""The order health index and customer inquiries (docs/health.md, docs/kpis.md)."""

from __future__ import annotations
