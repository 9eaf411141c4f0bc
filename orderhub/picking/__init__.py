"""Picking: waves, pick tasks, pick paths, PDA scans, pack stations."""

from __future__ import annotations
