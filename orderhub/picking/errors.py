"""The picking context's error codes: devices and their sessions, waves, pick tasks, scans and the pack station (see
:class:`orderhub.errors.ErrorCode`), and what a handheld scan answers with.

A scan the hub refuses is not an exception: it is answered (and recorded, and replayed) as a
:class:`ScanRefusal` with what was expected; :func:`refusal_field` names the input the PDA puts its cursor on."""

from __future__ import annotations

from enum import StrEnum

from orderhub.errors import ErrorCode

__all__ = ["REFUSAL_FIELDS", "PickingError", "ScanOutcome", "ScanRefusal", "refusal_field"]


class PickingError(ErrorCode):
    """Picking: devices, PDA sessions, waves, pick tasks and packing."""

    DUPLICATE_DEVICE = "duplicate_device", "设备已登记", "A device with this code is registered."
    UNKNOWN_DEVICE = (
        "unknown_device", "设备未登记，请联系主管在后台登记该设备", "The device is not registered; a supervisor must."
    )
    DEVICE_INACTIVE = "device_inactive", "设备已停用", "The device is disabled."
    ROLE_NOT_ALLOWED = "role_not_allowed", "该账号不能登录仓库设备", "This role cannot sign in on a warehouse device."
    WRONG_WAREHOUSE = (
        "wrong_warehouse", "该账号不属于本仓", "The user belongs to another warehouse (device or task)."
    )
    SESSION_EXPIRED = "session_expired", "登录已过期，请重新登录", "The device session expired; sign in again."
    TOKEN_IN_URL = (
        "token_in_url",
        "登录令牌不能放在网址中，请升级设备程序",
        "The floor websocket refuses a token in the URL (URLs are logged): send it in the Authorization header or "
        "the first message.",
    )
    UNKNOWN_SKU = "unknown_sku", "SKU 不存在", "Picking settings name a SKU that does not exist."
    UNKNOWN_LOCATION = "unknown_location", "本仓没有库位", "Picking settings name a location not in this warehouse."
    MIXED_PACKING_LINES = (
        "mixed_packing_lines", "一个波次只能包含同一打包线的订单", "A wave's orders must share one packing line."
    )
    ORDERS_NOT_PICKABLE = (
        "orders_not_pickable", "订单不是本仓待拣货的订单或已在拣货任务中", "Some orders cannot join a wave."
    )
    WAVE_NOT_FOUND = "wave_not_found", "波次不存在", "No wave with this id or code (in this warehouse)."
    TASK_NOT_FOUND = "task_not_found", "拣货任务不存在", "The pick task does not exist in this warehouse."
    TASK_TAKEN = "task_taken", "任务已被其他人领取", "Another picker claimed the task first."
    TASK_WITHDRAWN = (
        "task_withdrawn", "任务已撤回（订单取消或拦截）", "The task's orders were cancelled or intercepted."
    )
    TASK_DONE = "task_done", "任务已完成", "The task is already complete."
    TASK_NOT_CLAIMED = "task_not_claimed", "这不是你的任务，请先领取", "Claim the task before scanning it."
    TASK_INCOMPLETE = "task_incomplete", "还有行未拣完（可登记缺货或继续拣货）", "Lines left neither picked nor short."
    LINE_NOT_FOUND = "line_not_found", "任务中没有这一行", "The line is not part of this task."
    CLIENT_ID_REUSED = (
        "client_id_reused",
        "该扫描编号已用于另一次扫描（设备编号重置？），请重新扫描",
        "The scan's client_id was already used for a different scan.",
    )
    ORDER_NOT_FOUND = "order_not_found", "本仓找不到订单", "No such order (or tote) in this warehouse."
    PACK_NOT_FOUND = "pack_not_found", "打包记录不存在", "The pack record does not exist."
    ALREADY_PACKED = "already_packed", "该订单已打包", "The order is already packed."
    PUTBACK_NOT_FOUND = "putback_not_found", "返架单不存在", "No put-back (返架单) with this id in this warehouse."
    PUTBACK_BAD_STATUS = (
        "putback_bad_status", "返架单状态只能是 open 或 done", "A put-back list filtered by a status that is not one."
    )
    PUTBACK_LINE_UNKNOWN = (
        "putback_line_unknown", "返架单中没有这一行", "Closing a put-back: `missing` names a line not on it."
    )
    PUTBACK_MISSING_OUT_OF_RANGE = (
        "putback_missing_out_of_range",
        "短少数量应在 1 到该行件数之间",
        "Closing a put-back: units reported missing on a line are not between 1 and the line's units.",
    )
    ORDER_WITHDRAWN = (
        "order_withdrawn", "订单已取消或被拦截，请勿打包，交给主管处理", "The order was cancelled or intercepted."
    )
    NOT_PICKED = "not_picked", "该订单还没拣完货", "The order is not picked yet."
    NOTHING_TO_PACK = "nothing_to_pack", "该订单在本仓没有商品", "The order has no lines in this warehouse."
    PRINTER_NOT_CONFIGURED = (
        "printer_not_configured",
        "本工作台未设置网络打印机（ZPL），请用浏览器打印 PDF 面单，或请主管在后台设置打印机地址",
        "The station prints PDF labels in the browser, or has no ZPL printer address: nothing to send the label to.",
    )


class ScanRefusal(ErrorCode):
    """A handheld scan the hub refuses: answered with what was ``expected``, recorded, and replayed the same."""

    WRONG_LOCATION = "wrong_location", "库位不对", "The location scanned is not the line's."
    LOCATION_NOT_SCANNED = (
        "location_not_scanned",
        "请先扫描库位，再扫描商品",
        "An item scan that names no confirmed location, where the warehouse requires the location scan.",
    )
    WRONG_ITEM = "wrong_item", "商品不对", "The item scanned is not the line's (or not the order's, when packing)."
    OVER_PICK = "over_pick", "超出应拣数量", "More than the line still needs."
    EXTRA_ITEM = "extra_item", "商品多了一件，请拿出", "Packing: every unit of this SKU is already verified."
    ITEMS_MISSING = "items_missing", "还有商品未验货", "Weighing before every unit is verified."
    WEIGHT_MISMATCH = "weight_mismatch", "重量不符", "The parcel's weight is outside the tolerance."


# The input a refused scan is about (the PDA puts the cursor there); any other refusal is about the barcode.
REFUSAL_FIELDS: dict[str, str] = {
    ScanRefusal.WRONG_LOCATION: "location",
    ScanRefusal.LOCATION_NOT_SCANNED: "location",
    ScanRefusal.OVER_PICK: "qty",
    ScanRefusal.WEIGHT_MISMATCH: "weight_g",
    ScanRefusal.ITEMS_MISSING: "pack_id",
}


def refusal_field(code: str) -> str:
    """The input a refused scan (by its code) is about."""
    return REFUSAL_FIELDS.get(code, "barcode")


class ScanOutcome(StrEnum):
    """The codes of a scan that went through (answered 200, not errors)."""

    OK = "ok"
    LINE_WITHDRAWN = "line_withdrawn"  # the order was withdrawn: put the item back / no short to record
