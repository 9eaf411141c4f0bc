"""Insights mined from the orders: co-purchase patterns and time-of-week peaks (docs/insights-mining.md)."""

from __future__ import annotations
