"""快递100 adapter: the :class:`~orderhub.carriers.port.Tracker` port over :mod:`.client` and :mod:`.mapper`.

* subscribe: 订阅推送 with the parcel's callback URL and salt (already subscribed counts as success);
* verify_push / parse_push: the push's ``sign = upper(md5(param + salt))`` and its ``lastResult``;
* push_reply: the body 快递100 expects back (it retries a push until it sees ``result: true``);
* query: 实时查询, the parcel's route so far (no result yet: no events).
"""

from __future__ import annotations

from typing import ClassVar, Final

import httpx

from orderhub.carriers.kuaidi100.client import Kuaidi100Client, callback_reply, parse_callback, verify_callback
from orderhub.carriers.port import PushedTracking, TrackerAccount, TrackingEvent

__all__ = ["CODE", "TRACKER", "Kuaidi100Tracker"]

CODE: Final = "kuaidi100"


class Kuaidi100Tracker:
    code: ClassVar[str] = CODE

    @staticmethod
    def _client(account: TrackerAccount, http: httpx.AsyncClient) -> Kuaidi100Client:
        if account.base_url:
            return Kuaidi100Client(account.key, account.customer, http, base_url=account.base_url)
        return Kuaidi100Client(account.key, account.customer, http)

    async def subscribe(
        self, account: TrackerAccount, http: httpx.AsyncClient, carrier: str, waybill_no: str, *, callback_url: str,
        salt: str, origin: str = "", destination: str = "",
    ) -> None:
        await self._client(account, http).subscribe(
            carrier, waybill_no, callback_url=callback_url, salt=salt, origin=origin, destination=destination
        )

    def verify_push(self, param: str, sign: str, salt: str) -> bool:
        return verify_callback(param, sign, salt)

    def parse_push(self, param: str) -> PushedTracking:
        update = parse_callback(param)  # Kuaidi100PayloadError, a TrackingPayloadError
        return PushedTracking(waybill_no=update.waybill_no, carrier=update.carrier, events=update.events)

    def push_reply(self, accepted: bool) -> bytes:
        return callback_reply(accepted)

    async def query(
        self, account: TrackerAccount, http: httpx.AsyncClient, carrier: str, waybill_no: str
    ) -> list[TrackingEvent]:
        return (await self._client(account, http).track(carrier, waybill_no)).events


TRACKER: Final = Kuaidi100Tracker()
