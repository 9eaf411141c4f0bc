"""Piccolo's conf module (``PICCOLO_CONF=server.piccolo_conf``), used by migrations and the piccolo CLI."""

from __future__ import annotations

from piccolo.conf.apps import AppRegistry

from orderhub.db import create_engine
from orderhub.settings import get_settings

__all__ = ["APP_REGISTRY", "DB"]

DB = create_engine(get_settings())
APP_REGISTRY = AppRegistry(apps=["server.piccolo_app"])
