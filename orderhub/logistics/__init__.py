"""Logistics: shipping labels, carrier choice, waybills, tracking (carrier adapters: orderhub.carriers)."""

from __future__ import annotations
