"""Carriers (快递): the port and one adapter package per express company."""

from __future__ import annotations
