"""Notifications: providers' accounts, templates, quiet hours and limits, customers' contacts, and per order the
messages sent, pending and failed (with the provider's reasons) — with a resend for staff."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from litestar import Controller, Request, delete, get, patch, post, put
from litestar.params import Parameter

from api.common import PathId, changes_of
from api.security import requires
from orderhub.auth.service import Role, UserView
from orderhub.notifications import config, contacts, outbox, templates
from orderhub.orders.service import ensure_in_scope

__all__ = ["NotificationController", "NotifySetupController"]

MANAGERS = (Role.ADMIN, Role.MANAGER)
Channel = Literal["wechat_template", "wechat_subscribe", "aliyun_sms", "wecom"]
Text = Annotated[str, msgspec.Meta(max_length=500)]
HHMM = Annotated[str, msgspec.Meta(pattern=r"^\d{2}:\d{2}$")]
MiniPage = Annotated[str, msgspec.Meta(max_length=200, pattern=r"^(([A-Za-z0-9_\-]+/)*[A-Za-z0-9_\-]+)?$")]


class ProviderIn(msgspec.Struct, kw_only=True):
    config: dict[Annotated[str, msgspec.Meta(max_length=40)], Text]


class ProviderOut(msgspec.Struct, kw_only=True):
    channel: str
    keys: list[str]  # which settings are stored (never their values)


class TemplateBody(msgspec.Struct, kw_only=True):
    template_id: Annotated[str, msgspec.Meta(max_length=64)] = ""
    fields: Annotated[dict[Annotated[str, msgspec.Meta(max_length=40)], Text], msgspec.Meta(max_length=20)] = {}
    title: Annotated[str, msgspec.Meta(max_length=100)] = ""
    text: Text = ""
    urgent: bool = False
    enabled: bool = True


class SettingsBody(msgspec.Struct, kw_only=True):
    quiet_start: HHMM = "22:00"
    quiet_end: HHMM = "08:00"
    public_base_url: Annotated[str, msgspec.Meta(max_length=300)] = ""
    miniprogram_page: MiniPage = ""
    per_second: dict[Channel, Annotated[int, msgspec.Meta(ge=1, le=10000)]] = msgspec.field(
        default_factory=lambda: {"wechat_template": 20, "wechat_subscribe": 20, "aliyun_sms": 50, "wecom": 10}
    )
    phone_per_minute: Annotated[int, msgspec.Meta(ge=1, le=100)] = 1
    phone_per_hour: Annotated[int, msgspec.Meta(ge=1, le=1000)] = 5
    max_attempts: Annotated[int, msgspec.Meta(ge=1, le=20)] = 6


class SettingsPatch(msgspec.Struct, kw_only=True):
    """The settings to change; the others keep their stored values."""

    quiet_start: HHMM | msgspec.UnsetType = msgspec.UNSET
    quiet_end: HHMM | msgspec.UnsetType = msgspec.UNSET
    public_base_url: Annotated[str, msgspec.Meta(max_length=300)] | msgspec.UnsetType = msgspec.UNSET
    miniprogram_page: MiniPage | msgspec.UnsetType = msgspec.UNSET
    per_second: dict[Channel, Annotated[int, msgspec.Meta(ge=1, le=10000)]] | msgspec.UnsetType = msgspec.UNSET
    phone_per_minute: Annotated[int, msgspec.Meta(ge=1, le=100)] | msgspec.UnsetType = msgspec.UNSET
    phone_per_hour: Annotated[int, msgspec.Meta(ge=1, le=1000)] | msgspec.UnsetType = msgspec.UNSET
    max_attempts: Annotated[int, msgspec.Meta(ge=1, le=20)] | msgspec.UnsetType = msgspec.UNSET


class ContactBody(msgspec.Struct, kw_only=True):
    oa_openid: Annotated[str, msgspec.Meta(max_length=64)] = ""
    mini_openid: Annotated[str, msgspec.Meta(max_length=64)] = ""
    subscribed: Annotated[list[Annotated[str, msgspec.Meta(max_length=32)]], msgspec.Meta(max_length=10)] = []
    sms_opt_out: bool = False


def _actor(request: Request[UserView, Any, Any]) -> str:
    return f"user:{request.user.username}"


class NotifySetupController(Controller):
    path = "/api/v1/notify"
    tags = ["notifications"]

    @put("/providers/{channel:str}", guards=[requires(Role.ADMIN)],
         summary="A provider's account: WeChat OA / mini-program, Aliyun SMS, WeCom (sealed, never returned)")
    async def put_provider(self, request: Request[UserView, Any, Any], channel: str, data: ProviderIn) -> ProviderOut:
        keys = await config.set_provider(channel, dict(data.config), actor=_actor(request))
        return ProviderOut(channel=channel, keys=keys)

    @get("/providers", guards=[requires(*MANAGERS)], summary="Which providers have an account")
    async def providers(self) -> list[ProviderOut]:
        return [ProviderOut(channel=c, keys=k) for c, k in (await config.configured_channels()).items()]

    @get("/templates", guards=[requires(*MANAGERS)], summary="Every notice's wording per channel (defaults merged)")
    async def list_templates(self) -> list[templates.Template]:
        return await templates.list_templates()

    @put("/templates/{event:str}/{channel:str}", guards=[requires(*MANAGERS)],
         summary="Set a notice's template on a channel: template id, field mapping, zh-CN wording, urgency")
    async def put_template(
        self, request: Request[UserView, Any, Any], event: str, channel: str, data: TemplateBody
    ) -> templates.Template:
        body = msgspec.convert(msgspec.to_builtins(data), templates.TemplateIn)
        return await templates.put_template(event, channel, body, actor=_actor(request))

    @delete("/templates/{event:str}/{channel:str}", guards=[requires(*MANAGERS)],
            summary="Back to the shipped wording")
    async def delete_template(self, event: str, channel: str) -> None:
        await templates.delete_template(event, channel)

    @get("/settings", guards=[requires(*MANAGERS)], summary="Quiet hours, rate limits, retries, link base")
    async def get_settings(self) -> config.NotifySettings:
        return await config.load_settings()

    @put("/settings", guards=[requires(Role.ADMIN)], summary="Change quiet hours, rate limits, retries, link base")
    async def put_settings(self, request: Request[UserView, Any, Any], data: SettingsBody) -> config.NotifySettings:
        value = msgspec.convert(msgspec.to_builtins(data), config.NotifySettings)
        return await config.save_settings(value, actor=_actor(request))

    @patch("/settings", guards=[requires(Role.ADMIN)], summary="Change some settings, keep the rest")
    async def patch_settings(self, request: Request[UserView, Any, Any], data: SettingsPatch) -> config.NotifySettings:
        current = await config.load_settings()
        changes = changes_of(data)
        if "per_second" in changes:  # channels not named keep their limits
            changes["per_second"] = {**current.per_second, **changes["per_second"]}
        return await config.save_settings(msgspec.structs.replace(current, **changes), actor=_actor(request))

    @put("/contacts/{phone:str}", guards=[requires(*MANAGERS)],
         summary="A customer's WeChat openids and the notices they accepted (by mobile number)")
    async def put_contact(self, phone: str, data: ContactBody) -> contacts.ContactView:
        return await contacts.put_contact(phone, msgspec.convert(msgspec.to_builtins(data), contacts.ContactIn))

    @get("/contacts/{phone:str}", guards=[requires(*MANAGERS)], summary="A customer's contact")
    async def get_contact(self, phone: str) -> contacts.ContactView:
        return await contacts.get_contact(phone)


class NotificationController(Controller):
    path = "/api/v1"
    tags = ["notifications"]

    @get("/orders/{order_id:int}/notifications", guards=[requires(*MANAGERS)],
         summary="The order's messages: sent, pending and failed, with the provider's reasons")
    async def of_order(self, request: Request[UserView, Any, Any], order_id: PathId) -> list[outbox.NotificationView]:
        await ensure_in_scope(order_id, request.user.warehouse_id)
        return await outbox.list_for_order(order_id)

    @get("/notifications", guards=[requires(*MANAGERS)], summary="Recent messages (e.g. ?status=failed)")
    async def recent(
        self,
        request: Request[UserView, Any, Any],
        status: Literal["pending", "sending", "sent", "failed", "fallback", "skipped"] | None = None,
        limit: Annotated[int, Parameter(ge=1, le=500)] = 100,
    ) -> list[outbox.NotificationView]:
        return await outbox.list_notifications(status=status, limit=limit, warehouse_id=request.user.warehouse_id)

    @post("/notifications/{notification_id:int}/resend", status_code=200, guards=[requires(*MANAGERS)],
          summary="Send a failed (or sent) message again")
    async def resend(self, request: Request[UserView, Any, Any], notification_id: PathId) -> outbox.NotificationView:
        return await outbox.resend(notification_id, actor=_actor(request), warehouse_id=request.user.warehouse_id)
