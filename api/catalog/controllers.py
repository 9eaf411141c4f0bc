"""SKUs."""

from __future__ import annotations

from typing import Annotated

import msgspec
from litestar import Controller, get, patch, post
from litestar.params import Parameter

from api.common import MAX_INT, Count, changes_of, present
from orderhub.catalog import service
from orderhub.catalog.service import NewSku

__all__ = ["SkuController"]


Barcode = Annotated[str, msgspec.Meta(max_length=64)]
ImageUrl = Annotated[
    str,
    msgspec.Meta(
        max_length=500,
        description="the SKU's picture (shown on the picker's stop): empty, an http(s) URL or a path on the hub "
        "starting with /",
    ),
]


class SkuIn(msgspec.Struct, kw_only=True):
    code: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    barcodes: Annotated[list[Barcode], msgspec.Meta(max_length=20)] = []
    weight_g: Count = 0
    volume_cm3: Count = 0
    category: Annotated[str, msgspec.Meta(max_length=64, description="commission category (finance fee settings)")] = ""
    image_url: ImageUrl = ""


class SkuPatch(msgspec.Struct, kw_only=True):
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=200)] | msgspec.UnsetType = msgspec.UNSET
    barcodes: Annotated[list[Barcode], msgspec.Meta(max_length=20)] | msgspec.UnsetType = msgspec.UNSET
    weight_g: Count | msgspec.UnsetType = msgspec.UNSET
    volume_cm3: Count | msgspec.UnsetType = msgspec.UNSET
    category: (
        Annotated[str, msgspec.Meta(max_length=64, description="commission category (finance fee settings)")]
        | msgspec.UnsetType
    ) = msgspec.UNSET
    image_url: ImageUrl | msgspec.UnsetType = msgspec.UNSET
    active: bool | msgspec.UnsetType = msgspec.UNSET


class SkuOut(msgspec.Struct, kw_only=True):
    id: int
    code: str
    name: str
    barcodes: list[str]
    weight_g: int
    volume_cm3: int
    active: bool
    category: str
    image_url: str


class SkuPageOut(msgspec.Struct, kw_only=True):
    items: list[SkuOut]
    next_cursor: int | None


class SkuController(Controller):
    path = "/api/v1/skus"
    tags = ["skus"]

    @post(
        "/",
        summary="Create a SKU with its barcodes, weight and volume",
        description="The code is unique and never changes; every barcode may belong to one SKU only. Weight (g) and "
        "volume (cm³) feed carrier choice and the pack station's weighing check. `image_url`, the SKU's picture on "
        "the picker's screen, is empty, an http(s) URL or a path on the hub starting with `/` (else 422, field "
        "`image_url`).",
    )
    async def create(self, data: SkuIn) -> SkuOut:
        return present(await service.create_sku(msgspec.convert(msgspec.to_builtins(data), NewSku)), SkuOut)

    @get(
        "/",
        summary="List SKUs (search by code or name; cursor = last id)",
        description="`q` matches part of the code or the name. Pages of `limit` in id order: pass the page's "
        "`next_cursor` as `cursor` for the next one (null on the last page).",
    )
    async def list_all(
        self,
        q: str | None = None,
        cursor: Annotated[int | None, Parameter(ge=0, le=MAX_INT)] = None,
        limit: Annotated[int, Parameter(ge=1, le=500)] = 100,
    ) -> SkuPageOut:
        return present(await service.list_skus(q=q, after_id=cursor, limit=limit), SkuPageOut)

    @get(
        "/by-barcode/{barcode:str}",
        summary="Find the SKU a barcode belongs to",
        description="What a scanner read (EAN-13, a shop's own code …) → the SKU; 404 when no SKU carries it.",
    )
    async def by_barcode(self, barcode: str) -> SkuOut:
        return present(await service.sku_for_barcode(barcode), SkuOut)

    @get(
        "/{code:str}",
        summary="One SKU by its code",
        description="The SKU with its barcodes, weight, volume and whether it is active.",
    )
    async def get_one(self, code: str) -> SkuOut:
        return present(await service.get_sku(code), SkuOut)

    @patch(
        "/{code:str}",
        summary="Change a SKU's name, barcodes, weight, volume, picture or active flag",
        description="Only the fields sent change. `barcodes` replaces the whole list; an empty `image_url` removes the "
        "picture. New orders naming an inactive SKU stop in exception (`unknown_sku`).",
    )
    async def update(self, code: str, data: SkuPatch) -> SkuOut:
        return present(await service.update_sku(code, changes_of(data)), SkuOut)
