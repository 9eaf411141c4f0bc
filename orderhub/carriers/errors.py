"""The codes of the carrier port's typed errors (:mod:`orderhub.carriers.port`). The carrier's own code travels
separately as ``carrier_code`` (vendor data, not one of ours)."""

from __future__ import annotations

from orderhub.errors import ErrorCode

__all__ = ["CarrierErrorCode"]


class CarrierErrorCode(ErrorCode):
    """Carriers: a carrier's gateway refused or failed a call (``carrier_code`` / ``carrier_message`` say why)."""

    CARRIER_ERROR = "carrier_error", "快递公司接口调用失败", "The carrier refused or failed the call."
    DIGEST_REJECTED = (
        "carrier_digest_rejected", "快递公司拒绝了签名（请检查校验码 / 密钥）", "The carrier rejected our signature."
    )
    TIMESTAMP_EXPIRED = (
        "carrier_timestamp_expired", "请求时间戳已过期（请检查服务器时间）", "The carrier says our clock is off."
    )
    OUT_OF_SERVICE_AREA = (
        "carrier_out_of_service_area", "收件地址不在该快递的服务范围内", "The carrier does not serve the address."
    )
    QUOTA_EXHAUSTED = (
        "carrier_quota_exhausted", "电子面单余额不足，请充值或换快递", "The waybill account has no balance left."
    )
    INVALID_REQUEST = "carrier_invalid_request", "快递公司认为下单信息有误", "The carrier refused the request's data."
    UNAVAILABLE = "carrier_unavailable", "快递公司接口暂时不可用，稍后重试", "The carrier is down or timed out; retry."
    INTERNATIONAL_UNSUPPORTED = (
        "carrier_international_unsupported",
        "该承运商不支持国际件",
        "The carrier (or the hub's adapter for it) cannot ship to a receiver outside China.",
    )
    CUSTOMS_INCOMPLETE = (
        "carrier_customs_incomplete",
        "国际件报关信息不完整",
        "An international waybill lacks what the carrier's declaration needs (HS code, English name, postcode …).",
    )
