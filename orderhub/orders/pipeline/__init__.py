"""The order pipeline, by what each part does:

- :mod:`.steps` — the worker step (:func:`process_order`): validate → reserve → ready, each step idempotent;
- :mod:`.batch` — the set-based pass over a batch of new orders on PostgreSQL (:func:`process_batch`);
- :mod:`.validation` — receiver standardisation, the duplicate check, rules and gift lines, SKU resolution;
- :mod:`.reservation` — warehouse ranking, allocation under the split policy, stock and shipments;
- :mod:`.merge` — 合单 (receiver key, open shipments), the surge backfill, recomputing a shipment;
- :mod:`.commands` — back-office commands: cancel, release a hold or a reservation, fix the receiver, retry;
- :mod:`.sweeps` — scheduled sweeps: orders waiting for stock, orders stuck in a processing status;
- :mod:`.rows` — the typed order and line rows the steps pass along; :mod:`.cache` — per-batch read caches.

The names below are re-exported for callers that import the package; new code imports the submodule.
"""

from __future__ import annotations

from orderhub.orders.pipeline.batch import BatchResult, process_batch
from orderhub.orders.pipeline.cache import batch_scope
from orderhub.orders.pipeline.commands import (
    cancel_order,
    fix_receiver,
    release_hold,
    release_reservation,
    replace_receiver,
    retry_exception,
)
from orderhub.orders.pipeline.merge import backfill_after_surge, receiver_key, recompute_shipment
from orderhub.orders.pipeline.reservation import AWAITING_STOCK, StockContention
from orderhub.orders.pipeline.steps import Processed, process_order
from orderhub.orders.pipeline.sweeps import retry_awaiting_stock, sweep_stuck_orders
from orderhub.orders.pipeline.validation import DUPLICATE_WINDOW

__all__ = [
    "AWAITING_STOCK",
    "DUPLICATE_WINDOW",
    "BatchResult",
    "Processed",
    "StockContention",
    "backfill_after_surge",
    "batch_scope",
    "cancel_order",
    "fix_receiver",
    "process_batch",
    "process_order",
    "receiver_key",
    "recompute_shipment",
    "release_hold",
    "release_reservation",
    "replace_receiver",
    "retry_awaiting_stock",
    "retry_exception",
    "sweep_stuck_orders",
]
