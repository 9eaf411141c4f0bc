"""The adapter a carrier account issues and cancels waybills with: the carrier's own API, or — for an account
``via`` a sales platform — that platform's e-waybill service called with the shop's authorisation."""

from __future__ import annotations

import httpx
import msgspec

from orderhub import crypto
from orderhub.carriers.port import (
    PLATFORM_WAYBILLS,
    Carrier,
    CarrierCredentials,
    InvalidWaybillRequest,
    PlatformWaybillAccount,
    carrier_for,
)
from orderhub.channels.service import connector_credentials
from orderhub.channels.tables import Channel
from orderhub.settings import get_settings

__all__ = ["account_carrier", "unseal"]


def unseal(token: str) -> dict[str, str]:
    """An account's sealed credentials (or a platform account's settings)."""
    if not token:
        return {}
    result: dict[str, str] = msgspec.json.decode(crypto.decrypt(get_settings().secret_key, token))
    return result


async def account_carrier(
    carrier: str, via: str, channel_id: int | None, sealed: str, http: httpx.AsyncClient
) -> Carrier:
    """The adapter for one account (see the module docstring)."""
    if not via:
        return carrier_for(carrier, msgspec.convert(unseal(sealed), CarrierCredentials), http)
    if via not in PLATFORM_WAYBILLS:
        raise InvalidWaybillRequest(f"不支持的平台电子面单服务 {via}", carrier_code="unknown_service")
    row = await Channel.select(Channel.credentials).where(Channel.id == (channel_id or 0)).first()
    if row is None:
        raise InvalidWaybillRequest("平台电子面单账号的店铺已不存在", carrier_code="no_channel")
    shop = connector_credentials(row["credentials"])
    account = PlatformWaybillAccount(
        platform=via,
        carrier=carrier,
        app_key=shop.app_key,
        app_secret=shop.app_secret,
        access_token=shop.access_token,
        shop_id=shop.shop_id,
        base_url=shop.base_url,
        settings=unseal(sealed),
    )
    return PLATFORM_WAYBILLS.get(via)(account, http)
