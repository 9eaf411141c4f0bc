"""SKUs."""

from __future__ import annotations

from typing import Annotated

import msgspec
from litestar import Controller, get, patch, post
from litestar.params import Parameter

from api.common import MAX_INT, Count, changes_of, present
from api.security import requires
from orderhub.auth.service import Role
from orderhub.catalog import service
from orderhub.catalog.service import NewSku

__all__ = ["SkuController"]


Barcode = Annotated[str, msgspec.Meta(max_length=64)]


class SkuIn(msgspec.Struct, kw_only=True):
    code: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    barcodes: Annotated[list[Barcode], msgspec.Meta(max_length=20)] = []
    weight_g: Count = 0
    volume_cm3: Count = 0


class SkuPatch(msgspec.Struct, kw_only=True):
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=200)] | msgspec.UnsetType = msgspec.UNSET
    barcodes: Annotated[list[Barcode], msgspec.Meta(max_length=20)] | msgspec.UnsetType = msgspec.UNSET
    weight_g: Count | msgspec.UnsetType = msgspec.UNSET
    volume_cm3: Count | msgspec.UnsetType = msgspec.UNSET
    active: bool | msgspec.UnsetType = msgspec.UNSET


class SkuOut(msgspec.Struct, kw_only=True):
    id: int
    code: str
    name: str
    barcodes: list[str]
    weight_g: int
    volume_cm3: int
    active: bool


class SkuPageOut(msgspec.Struct, kw_only=True):
    items: list[SkuOut]
    next_cursor: int | None


class SkuController(Controller):
    path = "/api/v1/skus"
    tags = ["skus"]

    @post("/", guards=[requires(Role.ADMIN, Role.MANAGER)])
    async def create(self, data: SkuIn) -> SkuOut:
        return present(await service.create_sku(msgspec.convert(msgspec.to_builtins(data), NewSku)), SkuOut)

    @get("/", guards=[requires(*Role)], summary="List SKUs (search by code or name; cursor = last id)")
    async def list_all(
        self,
        q: str | None = None,
        cursor: Annotated[int | None, Parameter(ge=0, le=MAX_INT)] = None,
        limit: Annotated[int, Parameter(ge=1, le=500)] = 100,
    ) -> SkuPageOut:
        return present(await service.list_skus(q=q, after_id=cursor, limit=limit), SkuPageOut)

    @get("/by-barcode/{barcode:str}", guards=[requires(*Role)])
    async def by_barcode(self, barcode: str) -> SkuOut:
        return present(await service.sku_for_barcode(barcode), SkuOut)

    @get("/{code:str}", guards=[requires(*Role)])
    async def get_one(self, code: str) -> SkuOut:
        return present(await service.get_sku(code), SkuOut)

    @patch("/{code:str}", guards=[requires(Role.ADMIN, Role.MANAGER)])
    async def update(self, code: str, data: SkuPatch) -> SkuOut:
        return present(await service.update_sku(code, changes_of(data)), SkuOut)
