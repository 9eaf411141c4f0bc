"""Channels (shops) and their signing secrets."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec
from litestar import Controller, Request, delete, get, patch, post, put
from litestar.params import Parameter

from api.common import PathId, changes_of, present
from orderhub.auth.service import UserView
from orderhub.channels import pull, service, stock_sync, writeback
from orderhub.channels.service import NewChannel

__all__ = ["ChannelController", "WritebackController"]


class ChannelIn(msgspec.Struct, kw_only=True):
    code: Annotated[str, msgspec.Meta(min_length=1, max_length=32)]
    platform: str
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
    default_warehouse: str | None = None
    credentials: dict[str, str] = {}
    split_policy: str = "exception"
    ship_within_hours: Annotated[int, msgspec.Meta(ge=1, le=2160)] = 48
    merge_scope: str = "channel"
    pull_enabled: bool = True
    pull_every_minutes: Annotated[int, msgspec.Meta(ge=1, le=1440)] = 15


class ChannelPatch(msgspec.Struct, kw_only=True):
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=100)] | msgspec.UnsetType = msgspec.UNSET
    default_warehouse: str | msgspec.UnsetType | None = msgspec.UNSET
    active: bool | msgspec.UnsetType = msgspec.UNSET
    credentials: dict[str, str] | msgspec.UnsetType = msgspec.UNSET
    split_policy: str | msgspec.UnsetType = msgspec.UNSET
    ship_within_hours: Annotated[int, msgspec.Meta(ge=1, le=2160)] | msgspec.UnsetType = msgspec.UNSET
    merge_scope: str | msgspec.UnsetType = msgspec.UNSET
    pull_enabled: bool | msgspec.UnsetType = msgspec.UNSET
    pull_every_minutes: Annotated[int, msgspec.Meta(ge=1, le=1440)] | msgspec.UnsetType = msgspec.UNSET


class ChannelTokenOut(msgspec.Struct, kw_only=True):
    """The shop's authorisation: when its access token and refresh token expire, and the last refresh (never a
    token). ``last_refresh``: "" none since the credentials were set, refreshed, refused (authorise again),
    unsupported (this shop's token cannot be refreshed: authorise again before it expires), failed (tried again)."""

    access_expires_at: datetime | None
    refresh_expires_at: datetime | None
    last_refresh: str
    last_refresh_at: datetime | None
    last_refresh_error: str


class ChannelOut(msgspec.Struct, kw_only=True):
    id: int
    code: str
    platform: str
    name: str
    default_warehouse: str | None
    active: bool
    credential_keys: list[str]
    split_policy: str
    ship_within_hours: int
    merge_scope: str
    pull_enabled: bool
    pull_every_minutes: int
    pull_cursor: datetime | None
    token: ChannelTokenOut


class ChannelCreated(msgspec.Struct, kw_only=True):
    channel: ChannelOut
    secret: str = msgspec.field(name="secret")


class PullQueued(msgspec.Struct, kw_only=True):
    channel: str
    queued: bool  # False: the queue was unreachable (the scheduled pull will run anyway)


class PullRunOut(msgspec.Struct, kw_only=True):
    id: int
    channel: str
    trigger: str
    status: str
    window_start: datetime
    window_end: datetime
    pages: int
    fetched: int
    new: int
    updated: int
    duplicate: int
    skipped: int
    rejected: int
    errors: list[dict[str, Any]]
    started_at: datetime
    finished_at: datetime | None
    duration_ms: int


class ChannelSkuIn(msgspec.Struct, kw_only=True):
    sku: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    platform_item_id: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    platform_sku_id: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]


class ChannelSkusIn(msgspec.Struct, kw_only=True):
    items: Annotated[list[ChannelSkuIn], msgspec.Meta(min_length=1, max_length=1000)]


class ChannelSkuOut(msgspec.Struct, kw_only=True):
    sku: str
    platform_item_id: str
    platform_sku_id: str
    synced_qty: int | None
    synced_at: datetime | None
    sync_error: str


class WritebackOut(msgspec.Struct, kw_only=True):
    id: int
    order_id: int
    external_id: str
    carrier: str
    waybill_no: str
    status: str
    attempts: int
    last_error: str
    next_attempt_at: datetime
    created_at: datetime
    done_at: datetime | None
    channel: str  # the channel's code
    platform: str


class SecretOut(msgspec.Struct, kw_only=True):
    code: str
    secret: str


class ChannelController(Controller):
    path = "/api/v1/channels"
    tags = ["channels"]

    @post(
        "/",
        summary="Create a channel; the response carries its signing secret, shown only once",
        description="A channel is one shop on one platform (`platform`: taobao, jd, pdd, douyin, wechat_shop, "
        "erp_file, own …). `credentials` are sealed at rest and never returned (only their keys). The secret signs "
        "pushes to /api/v1/orders/ingest; keep it, it is not shown again.",
    )
    async def create(self, data: ChannelIn) -> ChannelCreated:
        view, secret = await service.create_channel(msgspec.convert(msgspec.to_builtins(data), NewChannel))
        return ChannelCreated(channel=present(view, ChannelOut), secret=secret)

    @get(
        "/",
        summary="List every channel (shop) with its settings",
        description="Each channel with its platform, default warehouse, split and merge policy, pull schedule, "
        "the keys (not the values) of its credentials and its authorisation (`token`: when the access and refresh "
        "tokens expire, the last refresh's outcome — never a token).",
    )
    async def list_all(self) -> list[ChannelOut]:
        return present(await service.list_channels(), list[ChannelOut])

    @get(
        "/{code:str}",
        summary="One channel by its code",
        description="The channel's settings, the keys of its credentials, where its order pulls have reached "
        "(`pull_cursor`) and its authorisation (`token`: expiries and the last refresh, never a token).",
    )
    async def get_one(self, code: str) -> ChannelOut:
        return present(await service.get_channel(code), ChannelOut)

    @patch(
        "/{code:str}",
        summary="Change a channel's name, warehouse, credentials, policies or pull schedule",
        description="Only the fields sent change; `credentials` replaces the sealed set. `active: false` stops the "
        "channel: its pulls and signed pushes are refused until it is active again.",
    )
    async def update(self, code: str, data: ChannelPatch) -> ChannelOut:
        return present(await service.update_channel(code, changes_of(data)), ChannelOut)

    @post(
        "/{code:str}/pull",
        status_code=202,
        summary="Pull this channel's orders from its platform now (runs in the worker; see /pulls for the result)",
        description="Queues a pull job, keyed by channel so it never runs twice at once. `queued: false` means the "
        "queue was unreachable; the scheduled pull still runs.",
    )
    async def pull_now(self, code: str) -> PullQueued:
        return PullQueued(channel=code, queued=await pull.enqueue_pull(code, trigger="manual"))

    @get(
        "/{code:str}/pulls",
        summary="Pull runs, newest first: window, pages, new/updated/duplicate, errors, duration",
        description="The last `limit` runs, scheduled or manual, with the time window each asked the platform for, "
        "what came back and the platform's errors.",
    )
    async def pulls(self, code: str, limit: Annotated[int, Parameter(ge=1, le=500)] = 50) -> list[PullRunOut]:
        return present(await pull.list_pull_runs(code, limit=limit), list[PullRunOut])

    @get(
        "/{code:str}/skus",
        summary="Platform listings of our SKUs in this channel, with what the stock sync last pushed",
        description="Each mapping: our SKU, the platform's item and SKU ids, the quantity last pushed, when, and "
        "the platform's error if the push failed.",
    )
    async def skus(self, code: str) -> list[ChannelSkuOut]:
        return present(await stock_sync.list_mappings(code), list[ChannelSkuOut])

    @put(
        "/{code:str}/skus",
        summary="Create or update SKU mappings (keyed by platform_sku_id)",
        description="Up to 1000 mappings at once; a mapping already there for the platform SKU id is updated. "
        "Mapped SKUs get their available stock pushed by the stock sync.",
    )
    async def put_skus(self, code: str, data: ChannelSkusIn) -> list[ChannelSkuOut]:
        items = [stock_sync.NewChannelSku(**msgspec.structs.asdict(item)) for item in data.items]
        return present(await stock_sync.upsert_mappings(code, items), list[ChannelSkuOut])

    @delete(
        "/{code:str}/skus/{platform_sku_id:str}",
        summary="Remove one SKU mapping",
        description="The platform SKU no longer receives stock pushes; orders already received are not touched.",
    )
    async def delete_sku(self, code: str, platform_sku_id: str) -> None:
        await stock_sync.delete_mapping(code, platform_sku_id)

    @post(
        "/{code:str}/stock-resync",
        status_code=200,
        summary="Push every mapped SKU's available stock now",
        description="A full resync, for after a platform outage or a bulk stock correction; answers per channel "
        "with the number of SKUs pushed and the platform's error, if any.",
    )
    async def stock_resync(self, code: str) -> dict[str, Any]:
        return await stock_sync.resync(code)

    @get(
        "/{code:str}/writebacks",
        summary="Shipments written back to the platform (pending ones with their errors)",
        description="This channel's shipment confirmations (carrier and waybill number sent to the platform), "
        "newest first; filter with `status` (pending, done, failed).",
    )
    async def writebacks(
        self, code: str, status: str | None = None, limit: Annotated[int, Parameter(ge=1, le=500)] = 100
    ) -> list[WritebackOut]:
        return present(await writeback.list_writebacks(code, status=status, limit=limit), list[WritebackOut])

    @post(
        "/{code:str}/writebacks/{writeback_id:int}/retry",
        status_code=202,
        summary="Send a pending or failed write-back now",
        description="Queues the write-back at once instead of waiting for its next attempt (after fixing what the "
        "platform refused).",
    )
    async def retry_writeback(self, code: str, writeback_id: PathId) -> None:
        await writeback.retry_writeback(code, writeback_id)

    @post(
        "/{code:str}/rotate-secret",
        status_code=200,
        summary="Issue a new signing secret (old one stops working)",
        description="For a leaked secret: the answer carries the new one, shown only once; pushes signed with the "
        "old one are refused from now on.",
    )
    async def rotate(self, code: str) -> SecretOut:
        return SecretOut(code=code, secret=await service.rotate_secret(code))


class WritebackController(Controller):
    """The write-back queue across channels: what the platforms refused for good waits here for a person."""

    path = "/api/v1/writebacks"
    tags = ["channels"]

    @get("/", summary="Shipment write-backs of every channel (e.g. ?status=failed: refused by the platform)",
         description="Newest first. `failed`: the platform refused the shipment for good (the order does not exist "
                     "there, its state allows no shipment …); it is not retried until someone does. A manager bound "
                     "to a warehouse sees its orders' write-backs only.")
    async def list_queue(
        self,
        request: Request[UserView, Any, Any],
        status: Literal["pending", "done", "failed"] | None = None,
        limit: Annotated[int, Parameter(ge=1, le=500)] = 100,
    ) -> list[WritebackOut]:
        views = await writeback.list_queue(status=status, warehouse_id=request.user.warehouse_id, limit=limit)
        return present(views, list[WritebackOut])

    @post("/{writeback_id:int}/retry", status_code=200, summary="Send a failed (or pending) write-back again",
          description="After fixing the cause (the order on the platform, the carrier mapping, the shop's "
                      "authorisation): the write-back turns pending and is sent now.")
    async def retry(self, request: Request[UserView, Any, Any], writeback_id: PathId) -> WritebackOut:
        view = await writeback.retry(
            writeback_id, warehouse_id=request.user.warehouse_id, actor=f"user:{request.user.username}"
        )
        return present(view, WritebackOut)
