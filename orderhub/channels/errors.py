"""The channels context's error codes: sales channels, signed ingest, pulls and the platform port's typed errors
(:mod:`orderhub.channels.port`). The platform's own code travels separately as ``platform_code`` (vendor data, not
one of ours)."""

from __future__ import annotations

from orderhub.errors import ErrorCode

__all__ = ["ChannelError"]


class ChannelError(ErrorCode):
    """Channels: shops, signed ingest, pushes, pulls and the platforms' gateways."""

    CHANNEL_INACTIVE = "channel_inactive", "渠道已停用", "The channel is disabled."
    CHANNEL_MISMATCH = (
        "channel_mismatch", "请求体中的 channel 与 X-OrderHub-Channel 不一致", "The body's channel is not the signer's."
    )
    SIGNATURE_MISSING = (
        "signature_missing",
        "缺少签名头：X-OrderHub-Channel、X-OrderHub-Timestamp、X-OrderHub-Signature",
        "A signed ingest request lacks one of the three signature headers.",
    )
    SIGNATURE_INVALID = "signature_invalid", "签名校验失败", "The HMAC signature (or its timestamp) does not verify."
    SIGNATURE_EXPIRED = (
        "signature_expired", "请求时间戳超出有效期，请校准时钟后重新签名", "The signed timestamp is outside the window."
    )
    SIGNATURE_REPLAYED = "signature_replayed", "该签名已使用过（重放请求）", "This signature was already used (replay)."
    INVALID_PUSH_SIGNATURE = "invalid_signature", "推送签名校验失败", "A platform push's signature does not verify."
    UNREADABLE_ORDER = (
        "unreadable_order", "平台订单无法解析", "Recorded on a pull run: a platform order our mapper cannot read."
    )
    UNREADABLE_FILE = "unreadable", "导入文件无法读取", "Recorded on an import job: the uploaded sheet cannot be read."
    PLATFORM_ERROR = "platform_error", "电商平台接口调用失败", "The platform refused or failed the call."
    PLATFORM_SIGNATURE_REJECTED = (
        "platform_signature_rejected",
        "电商平台拒绝了签名（请检查 App Key / App Secret）",
        "The platform rejected our signature (app key / secret).",
    )
    PLATFORM_SESSION_EXPIRED = (
        "platform_session_expired", "店铺授权已过期，需要刷新或重新授权", "The shop's authorisation expired."
    )
    PLATFORM_RATE_LIMITED = "platform_rate_limited", "电商平台限流，稍后重试", "The platform throttled us; retry later."
    PLATFORM_UNAVAILABLE = (
        "platform_unavailable", "电商平台暂时不可用，稍后重试", "The platform is down or timed out; retry later."
    )
    PLATFORM_ALREADY_SHIPPED = (
        "platform_already_shipped", "该订单在平台上已发货", "The platform says the order shipped already."
    )
    PLATFORM_INVALID_REQUEST = (
        "platform_invalid_request", "电商平台认为请求参数有误", "The platform refused the request's parameters."
    )
    PLATFORM_DECRYPT_REFUSED = (
        "platform_decrypt_refused",
        "电商平台拒绝解密收件人信息（无权限、超出解密额度或订单状态不允许）",
        "The platform refused to decrypt the receiver (no permission, decrypt quota used up, order state).",
    )
    WRITEBACK_NOT_FOUND = (
        "writeback_not_found",
        "没有这条待回传或回传失败的发货记录",
        "No pending or failed shipment write-back with this id (in your scope): done ones cannot be retried.",
    )
