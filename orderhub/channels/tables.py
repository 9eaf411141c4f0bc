"""Sales channels: one shop on one platform (or an ERP / own store feeding the generic API)."""

from __future__ import annotations

from piccolo.columns import Boolean, Bytea, ForeignKey, Integer, Serial, Text, Timestamptz, Varchar
from piccolo.table import Table

from orderhub.catalog.tables import Sku
from orderhub.inventory.tables import Warehouse

__all__ = [
    "Channel",
    "ChannelSku",
    "ImportJob",
    "ImportMapping",
    "PullRun",
    "ReceiverDecrypt",
]


class Channel(Table, tablename="channel"):
    id: Serial  # the primary key piccolo adds; declared for type checkers
    code = Varchar(length=32, unique=True, index=True)
    platform = Varchar(length=32)
    name = Varchar(length=100)
    # Fernet token (key derived from ORDERHUB_SECRET_KEY) of a JSON object; holds the signing "secret"
    # and any platform app keys. Never returned by the API after creation.
    credentials = Text(default="")
    default_warehouse = ForeignKey(references=Warehouse, null=True)
    # When no single warehouse has everything: "split" by warehouse, "wait" for stock, or "exception".
    split_policy = Varchar(length=16, default="exception")
    # ship_by = paid_at (else created_at) + this many hours, unless the platform gave a (presale) date.
    ship_within_hours = Integer(default=48)
    # 合单: merge orders for one receiver into one shipment within this channel ("channel"), across all of the
    # seller's channels ("seller"), or never ("off").
    merge_scope = Varchar(length=16, default="channel")
    active = Boolean(default=True)
    # Scheduled pull from the platform (platforms with a connector): every N minutes, from the cursor on.
    pull_enabled = Boolean(default=True)
    pull_every_minutes = Integer(default=15)
    # Orders modified before this instant have been pulled (the next window starts a little earlier).
    pull_cursor = Timestamptz(null=True, default=None)
    # The platform authorisation's upkeep (orderhub.channels.tokens; the tokens themselves are in ``credentials``):
    # the last refresh attempt's outcome ("" none since the credentials were set, refreshed, refused, unsupported,
    # failed), its time, and the platform's refusal or the failure (with the platform's code; never a token).
    token_refresh_status = Varchar(length=16, default="")
    token_refresh_at = Timestamptz(null=True, default=None)
    token_refresh_error = Varchar(length=255, default="")
    created_at = Timestamptz()
    updated_at = Timestamptz()


class PullRun(Table, tablename="pull_run"):
    """One pull of a channel's orders from its platform: window, pages, outcome counts, errors, duration."""

    id: Serial  # the primary key piccolo adds; declared for type checkers
    channel = ForeignKey(references=Channel, index=True)
    trigger = Varchar(length=16)  # cron | manual | push
    status = Varchar(length=16, default="running")  # running | succeeded | failed
    window_start = Timestamptz()
    window_end = Timestamptz()
    pages = Integer(default=0)
    fetched = Integer(default=0)
    new = Integer(default=0)
    updated = Integer(default=0)
    duplicate = Integer(default=0)
    skipped = Integer(default=0)
    rejected = Integer(default=0)
    errors = Text(default="[]")
    started_at = Timestamptz(index=True)
    finished_at = Timestamptz(null=True, default=None)
    duration_ms = Integer(default=0)


class ChannelSku(Table, tablename="channel_sku"):
    """A platform listing of one of our SKUs in one channel (platform item + SKU id ↔ our SKU), and what the
    stock sync last told the platform."""

    id: Serial  # the primary key piccolo adds; declared for type checkers
    channel = ForeignKey(references=Channel, index=True)
    sku = ForeignKey(references=Sku, index=True)
    platform_item_id = Varchar(length=64)
    platform_sku_id = Varchar(length=64)
    synced_qty = Integer(null=True, default=None)
    synced_at = Timestamptz(null=True, default=None)
    sync_error = Text(default="")
    created_at = Timestamptz()


class ImportMapping(Table, tablename="import_mapping"):
    """A channel's saved spreadsheet column mapping (column header → unified field), reused for every upload."""

    id: Serial  # the primary key piccolo adds; declared for type checkers
    channel = ForeignKey(references=Channel, unique=True)
    mapping = Text(default="{}")
    updated_by = Varchar(length=64, default="")
    updated_at = Timestamptz()


class ImportJob(Table, tablename="import_job"):
    """One uploaded ERP / spreadsheet file and its import: progress, outcome counts and row-level errors."""

    id: Serial  # the primary key piccolo adds; declared for type checkers
    channel = ForeignKey(references=Channel, index=True)
    filename = Varchar(length=255)
    sha256 = Varchar(length=64, index=True)
    content = Bytea()
    mapping = Text(default="{}")
    status = Varchar(length=16, default="queued")  # queued | running | done | failed
    total_rows = Integer(default=0)
    processed_rows = Integer(default=0)
    orders_new = Integer(default=0)
    orders_duplicate = Integer(default=0)
    orders_rejected = Integer(default=0)
    errors = Text(default="[]")
    created_by = Varchar(length=64, default="")
    created_at = Timestamptz()
    finished_at = Timestamptz(null=True, default=None)


class ReceiverDecrypt(Table, tablename="receiver_decrypt"):
    """One decrypt of an order's encrypted receiver through its platform (orderhub.channels.decrypt): who, why,
    when, and what the platform said. The clear values themselves are never stored."""

    id: Serial
    order = Integer(default=0, index=True)
    channel = Integer(default=0)
    platform = Varchar(length=16, default="")
    scene = Varchar(length=16, default="")  # waybill (a carrier's own API needs it) | view (a person asked)
    reason = Varchar(length=255, default="")
    actor = Varchar(length=64, default="system")
    outcome = Varchar(length=16, default="")  # ok | refused | failed
    platform_code = Varchar(length=64, default="")
    created_at = Timestamptz(index=True)
