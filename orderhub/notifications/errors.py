"""The notifications context's error codes (see :class:`orderhub.errors.ErrorCode`). A provider's own codes (e.g.
微信 ``43101``) are vendor data recorded as they come, not ours."""

from __future__ import annotations

from orderhub.errors import ErrorCode

__all__ = ["DeliveryError", "NotificationError"]


class NotificationError(ErrorCode):
    """Notifications: templates, contacts and the 小程序 sign-up."""

    UNKNOWN_NOTICE = "unknown_notice", "未知的通知类型", "No such notice type."
    BAD_PLACEHOLDER = "bad_placeholder", "模板文字的占位符只能写成 {名称}", "A placeholder is not a plain {name}."
    TEMPLATE_NOT_FOUND = "template_not_found", "该通知在此渠道没有自定义模板", "No custom template for this channel."
    CONTACT_NOT_FOUND = "contact_not_found", "没有该手机号的联系方式", "No contact for this phone number."
    SUBSCRIBE_NOT_CONFIGURED = "subscribe_not_configured", "尚未配置小程序订阅消息", "No 小程序 subscription set-up."
    INVALID_WECHAT_CODE = (
        "invalid_wechat_code", "微信凭证无效或已使用，请重新进入小程序后再试", "WeChat did not accept the login code."
    )
    WECHAT_UNAVAILABLE = "wechat_unavailable", "微信暂时无法确认身份，请稍后再试", "WeChat is down; retry later."
    WECHAT_REFUSED = "wechat_refused", "微信拒绝了请求", "WeChat refused the call (its code and text in the message)."
    UNSUPPORTED_PHONE = "unsupported_phone", "目前只支持中国大陆手机号", "Only mainland China mobile numbers."
    NOT_RESENDABLE = "not_resendable", "只能重发已发送或发送失败的消息", "Only sent or failed messages can be resent."


class DeliveryError(ErrorCode):
    """Why the outbox held or failed a message: recorded on the notification (``error_code``), not an HTTP answer."""

    QUIET_HOURS = "quiet_hours", "免打扰时段，稍后发送", "Held until the quiet hours end."
    RATE_LIMITED = "rate_limited", "超过发送频率，排队稍后发送", "Held by our own per-recipient rate limit."
    MEMBER_RATE = (
        "member_rate",
        "超过企业微信每人每分钟的发送限制，排队稍后发送",
        "Held back by the WeCom member's window, shared with the approval cards (WeCom drops what passes 30 a minute "
        "per member): sent when it has room.",
    )
    NOT_CONFIGURED = "not_configured", "该渠道未配置账号或模板已停用", "No provider account, or template off."
    TEMPLATE_ERROR = "template_error", "模板无法填写", "The template could not be filled."
    SUPERSEDED = (
        "superseded",
        "已有更新的物流消息，本条不再发送",
        "A later notice of the same parcel (已签收 after a held 已发货) replaced this unsent one.",
    )
