"""Notifications: providers' accounts, templates, quiet hours and limits, customers' contacts, and per order the
messages sent, pending and failed (with the provider's reasons) — with a resend for staff."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from litestar import Controller, Request, delete, get, patch, post, put
from litestar.params import Parameter

from api.common import PathId, changes_of
from orderhub.auth.service import UserView
from orderhub.notifications import config, contacts, outbox, templates
from orderhub.orders.service import ensure_in_scope

__all__ = ["NotificationController", "NotifySetupController"]

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

    @put(
        "/providers/{channel:str}",
        summary="A provider's account: WeChat OA / mini-program, Aliyun SMS, WeCom (sealed, never returned)",
        description="`channel`: wechat_template (公众号模板消息), wechat_subscribe (小程序订阅消息), aliyun_sms "
        "(阿里云短信) or wecom (企业微信应用消息). The account's settings are sealed at rest; the answer lists only "
        "which keys are set.",
    )
    async def put_provider(self, request: Request[UserView, Any, Any], channel: str, data: ProviderIn) -> ProviderOut:
        keys = await config.set_provider(channel, dict(data.config), actor=_actor(request))
        return ProviderOut(channel=channel, keys=keys)

    @get(
        "/providers",
        summary="Which providers have an account",
        description="Each configured channel with the keys of its account (never their values); a channel missing "
        "here sends nothing.",
    )
    async def providers(self) -> list[ProviderOut]:
        return [ProviderOut(channel=c, keys=k) for c, k in (await config.configured_channels()).items()]

    @get(
        "/templates",
        summary="Every notice's wording per channel (defaults merged)",
        description="For each notice (已发货, 派送中, 已签收, delays, staff alerts …) and channel: the template id, "
        "field mapping and zh-CN wording in use, a saved override merged over the shipped default.",
    )
    async def list_templates(self) -> list[templates.Template]:
        return await templates.list_templates()

    @put(
        "/templates/{event:str}/{channel:str}",
        summary="Set a notice's template on a channel: template id, field mapping, zh-CN wording, urgency",
        description="Overrides the shipped default for this notice on this channel; placeholders in the wording must "
        "be ones the notice provides.",
    )
    async def put_template(
        self, request: Request[UserView, Any, Any], event: str, channel: str, data: TemplateBody
    ) -> templates.Template:
        body = msgspec.convert(msgspec.to_builtins(data), templates.TemplateIn)
        return await templates.put_template(event, channel, body, actor=_actor(request))

    @delete(
        "/templates/{event:str}/{channel:str}",
        summary="Back to the shipped wording",
        description="Deletes the saved template for this notice and channel; the shipped default applies again.",
    )
    async def delete_template(self, event: str, channel: str) -> None:
        await templates.delete_template(event, channel)

    @get(
        "/settings",
        summary="Quiet hours, rate limits, retries, link base",
        description="The notification settings: quiet hours (Asia/Shanghai) when customer messages wait, per-channel "
        "rate limits, retry policy and the base URL of tracking links.",
    )
    async def get_settings(self) -> config.NotifySettings:
        return await config.load_settings()

    @put(
        "/settings",
        summary="Change quiet hours, rate limits, retries, link base",
        description="Replaces every setting at once; use PATCH to change some.",
    )
    async def put_settings(self, request: Request[UserView, Any, Any], data: SettingsBody) -> config.NotifySettings:
        value = msgspec.convert(msgspec.to_builtins(data), config.NotifySettings)
        return await config.save_settings(value, actor=_actor(request))

    @patch(
        "/settings",
        summary="Change some settings, keep the rest",
        description="Only the fields sent change; per-channel rate limits not named keep theirs.",
    )
    async def patch_settings(self, request: Request[UserView, Any, Any], data: SettingsPatch) -> config.NotifySettings:
        current = await config.load_settings()
        changes = changes_of(data)
        if "per_second" in changes:  # channels not named keep their limits
            changes["per_second"] = {**current.per_second, **changes["per_second"]}
        return await config.save_settings(msgspec.structs.replace(current, **changes), actor=_actor(request))

    @put(
        "/contacts/{phone:str}",
        summary="A customer's WeChat openids and the notices they accepted (by mobile number)",
        description="Records, for a mobile number, the customer's WeChat openids and which notices they subscribed "
        "to, so shipping notices reach them in WeChat instead of by SMS.",
    )
    async def put_contact(self, phone: str, data: ContactBody) -> contacts.ContactView:
        return await contacts.put_contact(phone, msgspec.convert(msgspec.to_builtins(data), contacts.ContactIn))

    @get(
        "/contacts/{phone:str}",
        summary="A customer's contact",
        description="The openids and accepted notices recorded for the mobile number; 404 when none.",
    )
    async def get_contact(self, phone: str) -> contacts.ContactView:
        return await contacts.get_contact(phone)


class NotificationController(Controller):
    path = "/api/v1"
    tags = ["notifications"]

    @get(
        "/orders/{order_id:int}/notifications",
        summary="The order's messages: sent, pending and failed, with the provider's reasons",
        description="Every message the order caused, to the customer and to staff, with its channel, status, attempts "
        "and the provider's last error.",
    )
    async def of_order(self, request: Request[UserView, Any, Any], order_id: PathId) -> list[outbox.NotificationView]:
        await ensure_in_scope(order_id, request.user.warehouse_id)
        return await outbox.list_for_order(order_id)

    @get(
        "/notifications",
        summary="Recent messages (e.g. ?status=failed)",
        description="Newest first, up to `limit`; filter with `status` (pending, sending, sent, failed, fallback, "
        "skipped, superseded). A user bound to a warehouse sees its orders' messages.",
    )
    async def recent(
        self,
        request: Request[UserView, Any, Any],
        status: Literal["pending", "sending", "sent", "failed", "fallback", "skipped", "superseded"] | None = None,
        limit: Annotated[int, Parameter(ge=1, le=500)] = 100,
    ) -> list[outbox.NotificationView]:
        return await outbox.list_notifications(status=status, limit=limit, warehouse_id=request.user.warehouse_id)

    @post(
        "/notifications/{notification_id:int}/resend",
        status_code=200,
        summary="Send a failed (or sent) message again",
        description="Queues the message again (after fixing a template or an account); the answer is the message, "
        "pending.",
    )
    async def resend(self, request: Request[UserView, Any, Any], notification_id: PathId) -> outbox.NotificationView:
        return await outbox.resend(notification_id, actor=_actor(request), warehouse_id=request.user.warehouse_id)
