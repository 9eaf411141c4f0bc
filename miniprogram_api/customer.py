"""What the seller's mini-program asks of the hub for its customers (no staff login: WeChat's own codes say who
the customer is): record which notices they accepted in the subscribe dialog, and show a parcel's tracking on the
page a subscribe message opens (``pages/…?token=``)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

import msgspec
from litestar import Controller, get, post

from orderhub.insights import inquiries
from orderhub.logistics import tracking
from orderhub.logistics.labels import carrier_name
from orderhub.notifications import contacts

__all__ = ["CustomerController"]

Code = Annotated[str, msgspec.Meta(min_length=1, max_length=128)]
Answer = Literal["accept", "reject", "ban", "filter"]

class SubscriptionIn(msgspec.Struct, kw_only=True):
    login_code: Code  # wx.login()
    phone_code: Code  # the getPhoneNumber button's e.detail.code
    # wx.requestSubscribeMessage's answer: template id → accept / reject / ban / filter
    answers: Annotated[dict[Annotated[str, msgspec.Meta(max_length=64)], Answer], msgspec.Meta(max_length=20)]


class SubscriptionOut(msgspec.Struct, kw_only=True):
    phone: str
    subscribed: list[str]
    labels: list[str]
    unknown_templates: list[str]


class ParcelEventOut(msgspec.Struct, kw_only=True):
    at: datetime
    state: str
    description: str
    location: str


class ParcelOut(msgspec.Struct, kw_only=True):
    carrier: str
    carrier_name: str
    waybill_no: str
    state: str
    state_text: str
    receiver: str  # masked (王*明（上海市）)
    stalled: bool
    events: list[ParcelEventOut]  # newest first


class CustomerController(Controller):
    path = "/mp/v1/customer"
    tags = ["mini-program"]

    @post(
        "/subscriptions",
        status_code=200,
        opt={"public": True},
        summary="After the subscribe dialog: which shipping notices this customer gets in WeChat",
        description="Called by the seller's mini-program with the `wx.login` code, the phone-number code and the "
        "customer's answers to the subscribe dialog; records which shipping notices reach this customer as 订阅消息. "
        "No staff credential.",
    )
    async def subscribe(self, data: SubscriptionIn) -> SubscriptionOut:
        result = await contacts.subscribe_from_miniprogram(
            login_code=data.login_code, phone_code=data.phone_code, answers=dict(data.answers)
        )
        return msgspec.convert(msgspec.to_builtins(result), SubscriptionOut)

    @get(
        "/parcels/{token:str}",
        opt={"public": True},
        summary="A parcel's tracking, for the mini-program's page",
        description="The parcel behind a tracking token (from a notice's link): carrier, waybill number, state in "
        "zh-CN and the route, with the receiver masked. No credential: the token is the key. Opening it before the "
        "parcel is delivered counts the order, once, in the KPIs' customer query rate (docs/kpis.md).",
    )
    async def parcel(self, token: Annotated[str, msgspec.Meta(max_length=64)]) -> ParcelOut:
        view = await tracking.tracking_by_token(token)
        # The customer asked about the parcel before delivery: counted once per order (the KPIs' query rate).
        await inquiries.page_opened(
            view.order_id, source=inquiries.Source.MINIPROGRAM, delivered=view.delivered_at is not None
        )
        receiver = await tracking.receiver_label(view.order_id)
        return ParcelOut(
            carrier=view.carrier,
            carrier_name=carrier_name(view.carrier),
            waybill_no=view.waybill_no,
            state=view.state,
            state_text=tracking.status_text(view),
            receiver=receiver,
            stalled=view.stalled,
            events=[
                ParcelEventOut(at=e.at, state=e.state, description=e.description, location=e.location)
                for e in view.events
            ],
        )
