"""The logistics context's error codes: rates, carrier choice, waybills and tracking (see
:class:`orderhub.errors.ErrorCode`). The carriers' own refusals are
:class:`orderhub.carriers.errors.CarrierErrorCode`."""

from __future__ import annotations

from orderhub.errors import ErrorCode

__all__ = ["LogisticsError"]


class LogisticsError(ErrorCode):
    """Logistics: rate cards, carrier accounts, waybills, labels and tracking."""

    RATE_CARD_NOT_FOUND = "rate_card_not_found", "该仓库没有这家快递的价目表", "No rate card for this carrier here."
    CARRIER_RULE_NOT_FOUND = "carrier_rule_not_found", "快递规则不存在", "The carrier rule does not exist."
    NO_WAREHOUSE = "no_warehouse", "订单还没有分配仓库", "The order has no warehouse yet."
    NO_RATE_CARD = "no_rate_card", "本仓还没有可用快递的价目表", "The warehouse has no usable rate card."
    NO_CARRIER = "no_carrier", "没有可用的快递", "No carrier can take this order (rules, rate cards, accounts)."
    DUPLICATE_CARRIER_ACCOUNT = "duplicate_carrier_account", "快递账号已存在", "The account code is taken."
    CARRIER_ACCOUNT_NOT_FOUND = "carrier_account_not_found", "快递账号不存在", "The carrier account does not exist."
    NO_CARRIER_ACCOUNT = (
        "no_carrier_account", "本仓没有可用的快递账号，请先在后台配置", "The warehouse has no active carrier account."
    )
    BAD_SENDER_ADDRESS = (
        "bad_sender_address", "仓库地址无法识别，请在仓库设置中填写完整地址", "The warehouse's address does not parse."
    )
    HELD_CARRIER_INACTIVE = (
        "held_carrier_inactive",
        "该订单已向停用的快递账号请求过运单号（结果未知）",
        "An earlier waybill request's account was disabled; confirm on the carrier's side, then cancel it.",
    )
    WAYBILL_CANCELLED = (
        "waybill_cancelled", "该订单的运单已作废，请重新取号", "The waybill was voided; request a new one."
    )
    NO_PENDING_REQUEST = "no_pending_request", "该订单没有待定的取号请求", "No waybill request is pending."
    WAYBILL_REQUEST_PENDING = (
        "waybill_request_pending",
        "该订单正在取运单号，请稍后再试",
        "A waybill request for the order is in flight: its waybill cannot be voided until it is answered.",
    )
    NO_WAYBILL = "no_waybill", "该订单还没有运单号", "The order (or the wave's orders) has no waybill yet."
    TRACKING_NOT_FOUND = "tracking_not_found", "查询不到该包裹", "No tracking for this parcel or order yet."
    PRINTER_ADDRESS_REFUSED = (
        "printer_address_refused",
        "打印机地址不能是本机、链路本地或组播地址，请填写打印机在局域网中的地址",
        "The station's printer address resolves to an address the hub never writes to: loopback (unless "
        "ORDERHUB_PRINTER_ALLOW_LOOPBACK), link-local (169.254/16, fe80::/10, cloud metadata), multicast, unspecified "
        "or reserved.",
    )
    PRINTER_UNREACHABLE = (
        "printer_unreachable",
        "打印机无法连接，请检查打印机电源、网线和地址，或改用 PDF 打印",
        "The station's network printer refused the connection or did not answer in time (raw TCP, port 9100).",
    )
