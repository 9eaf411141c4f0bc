"""Credentials for the sandbox simulators, one way for every platform and carrier (the unit tests of the clients,
mappers and adapters call the simulators over real HTTP)."""

from __future__ import annotations

from typing import Any

import msgspec

from orderhub.carriers.port import CarrierCredentials
from orderhub.channels.port import Credentials
from sandbox.carriers import CarrierServer
from sandbox.platforms import PlatformServer, SellerAccount

__all__ = ["carrier_credentials", "shop_credentials"]


def shop_credentials(
    sim: PlatformServer, platform: str, seller: SellerAccount, *, tokens: bool = True, **changes: Any
) -> Credentials:
    """A shop's credentials at the platform simulator (``platform`` as the simulator names it: "pinduoduo"): its
    app key and secret, and — with ``tokens`` — the access and refresh token the simulator issued and the shop id.
    ``changes`` replace fields (``app_secret="wrong"``, ``base_url=…``)."""
    base = Credentials(app_key=seller.app_key, app_secret=seller.app_secret, base_url=sim.url(platform))
    if tokens:
        base = msgspec.structs.replace(
            base, access_token=seller.access_token, refresh_token=seller.refresh_token, shop_id=seller.shop_id
        )
    return msgspec.structs.replace(base, **changes)


# How each carrier simulator's account fills the carrier port's credentials (CarrierCredentials field → attribute).
_CARRIER_ACCOUNTS: dict[str, dict[str, str]] = {
    "sf": {"partner_id": "partner_id", "secret": "check_word", "customer_code": "monthly_card"},
    "zto": {
        "partner_id": "app_key", "secret": "app_secret", "customer_code": "account_id",
        "customer_password": "account_password",
    },
    "jt": {
        "partner_id": "api_account", "secret": "private_key", "customer_code": "customer_code",
        "customer_password": "password",
    },
}


def carrier_credentials(sim: CarrierServer, carrier: str, account: Any, **changes: Any) -> CarrierCredentials:
    """An account's credentials at the carrier simulator (``carrier``: "sf", "zto", "jt"); ``changes`` replace
    fields (``secret="wrong"``, ``customer_password=…``)."""
    fields = {field: getattr(account, attribute) for field, attribute in _CARRIER_ACCOUNTS[carrier].items()}
    return msgspec.structs.replace(CarrierCredentials(**fields, base_url=sim.url(carrier)), **changes)
