"""Topic names of the live websockets. They are built in :mod:`orderhub.events` (workers publish too and the
platform floor cannot import the transport floor); this module re-exports them for the websocket routes."""

from __future__ import annotations

from orderhub.events import Topic, live_seq_key, order_topic, picker_topic, warehouse_floor_topic

__all__ = ["Topic", "live_seq_key", "order_topic", "picker_topic", "warehouse_floor_topic"]
