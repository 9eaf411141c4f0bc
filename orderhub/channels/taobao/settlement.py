"""Taobao/Tmall settlement data: the shop's Alipay account bill and TOP's fee bills, as settlement lines.

**Alipay** (:mod:`orderhub.channels.taobao.alipay`): ``alipay.data.dataservice.bill.downloadurl.query`` with
``bill_type`` ``signcustomer`` (the account bill: every movement of the Alipay balance — 交易付款, 交易退款, 收费 …)
and, when configured, ``trade`` (the acquiring bill of interface trades). Bills are T+1 (a day's bill is produced the
next morning; "不支持下载当日账单"), so a day not yet over is ``bill_not_ready`` without asking, and Alipay's
``40004`` / ``isp.bill_not_exist`` (``BILL_NOT_EXIST`` in the older docs: "There is no report for the day") is
``bill_not_ready`` for a recent day (a day older than :data:`NOT_READY_GRACE` with no bill is a day with no movement).
The answer's ``bill_download_url`` is valid for 30 seconds ("获取连接后30秒后未下载，链接地址失效"), so the ZIP is
downloaded at once; an expired URL (Alipay answers a page saying "下载超时，请重新下载" instead of the ZIP) is
queried again, up to :data:`URL_ATTEMPTS` times. The ZIP holds a GBK CSV detail file and a summary file
("…(汇总).csv"); the detail file is the member whose header names the detail columns. ``#`` lines are comments.

Documented columns (opendocs.alipay.com/open/204/106262 "对账说明"):

* signcustomer (账务明细): 账务流水号, 业务流水号, 商户订单号, 商品名称, 发生时间, 对方账号, 收入金额（+元）,
  支出金额（-元）, 账户余额（元）, 交易渠道, 业务类型, 备注 (newer files add 业务基础订单号 — the Taobao order id —
  and 业务描述) — one line per row, ``line_key`` the 账务流水号;
* trade (业务明细): 支付宝交易号, 商户订单号, 业务类型 (交易/退款), 商品名称, 创建时间, 完成时间, … 订单金额（元）,
  商家实收（元）, … 退款批次号/请求号, 服务费（元）, 分润（元）, 备注 — a SALE (or REFUND) line and a PAYMENT_FEE line
  per row, keyed by 支付宝交易号 + 退款批次号 (the trade bill has no row id).

Taobao trades appear in the account bill with 商户订单号 ``T200P<tid>``; that tid is the line's order. Withdrawals
and top-ups (提现 / 充值) move money between the seller's own accounts and are not settlement lines.

**TOP fee bills** (:class:`~orderhub.channels.taobao.client.TopClient`): ``taobao.bill.accounts.get`` (the fee
accounts, 科目, read once per source) and ``taobao.bill.bills.get`` (fee bills by 支付宝扣款时间 ``pay_time``, at most
one day per query, 40–100 a page, ``has_next``) → COMMISSION / PROMOTION_FEE / SERVICE_FEE / INSURANCE lines on the
sub-order (``order_id``), keyed ``top:<bid>`` (TOP's 账单编号). A fee deducted through Alipay is also a 收费 row of
the account bill, under another id: with the fee bills on (``top_fee_bills=1``) the account bill's 收费 rows are left
out and the fees come from TOP, one line per bill; off (the default) they come from the account bill — never both, so
no fee is counted twice.

Pages: the first page is the whole Alipay day (one file); later pages walk the TOP fee bills (``top:<page>``).

Settings (the factory's ``extra`` mapping, sealed with the channel):

* ``alipay_app_id`` — the Alipay open-platform app id (required);
* ``alipay_private_key`` — the app's RSA2 private key, PEM or the bare base64 body (required);
* ``alipay_public_key`` — Alipay's public key, PEM or bare base64 (responses are verified when set);
* ``alipay_gateway`` — the gateway URL (default ``https://openapi.alipay.com/gateway.do``);
* ``alipay_app_auth_token`` — for an ISV app calling on the merchant's behalf (optional);
* ``alipay_bill_types`` — comma-separated, default ``signcustomer`` (add ``trade`` only for a shop whose trade bill
  is not already in its account bill, or its sales are counted twice);
* ``top_fee_bills`` — ``1`` to take the fees from TOP's fee bills (with the channel's TOP session) instead of the
  account bill's 收费 rows; ``0`` (default) to take them from the account bill.
"""

from __future__ import annotations

import csv
import io
import logging
import re
import zipfile
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, ClassVar, Final

import httpx

from orderhub.channels.port import Credentials, InvalidRequest, PlatformError, PlatformUnavailable
from orderhub.channels.taobao.alipay import AlipayClient, AlipaySettings
from orderhub.channels.taobao.client import TopClient
from orderhub.clock import SHANGHAI
from orderhub.finance.port import LineKind, SettlementLineIn, SettlementPage
from orderhub.wire import NotAnAmount, beijing_or_none, yuan_to_fen

__all__ = [
    "BILL_METHOD",
    "FEE_ACCOUNTS_METHOD",
    "FEE_BILLS_METHOD",
    "NOT_READY_GRACE",
    "URL_ATTEMPTS",
    "TaobaoSettlementSource",
    "create_settlement_source",
    "fee_bill_lines",
    "read_bill_zip",
    "signcustomer_lines",
    "trade_lines",
]

log = logging.getLogger("orderhub.channels.taobao.settlement")

BILL_METHOD: Final = "alipay.data.dataservice.bill.downloadurl.query"
FEE_ACCOUNTS_METHOD: Final = "taobao.bill.accounts.get"
FEE_BILLS_METHOD: Final = "taobao.bill.bills.get"
FEE_BILL_FIELDS: Final = (
    "bid,account_id,trade_id,order_id,total_amount,amount,book_time,biz_time,pay_time,alipay_outno,alipay_notice,"
    "status,num_iid"
)
FEE_PAGE_SIZE: Final = 100  # taobao.bill.bills.get: 40~100
URL_ATTEMPTS: Final = 3  # the download URL lives 30 s: query again when it expired before we got the file
NOT_READY_GRACE: Final = timedelta(days=3)  # "no bill" for a day older than this means a day with no movement
# Alipay "bill not ready / no bill" sub_codes (downloadurl.query error codes: BILL_NOT_EXIST "There is no report
# for the day"; current docs isp.bill_not_exist 账单不存在).
_NOT_EXIST_SUB_CODES: Final = frozenset({"isp.bill_not_exist", "bill_not_exist"})
_TAOBAO_TID = re.compile(r"^T200P(\d+)$")
_NOT_SETTLEMENT = ("提现", "充值")  # moving money to / from the seller's own accounts


def _not_ready(day: date) -> PlatformUnavailable:
    return PlatformUnavailable(
        f"{day.isoformat()} 的支付宝账单尚未生成（T+1）", platform_code="bill_not_ready", retry_after=3600
    )


def _cell(row: Mapping[str, str], *prefixes: str) -> str:
    """The value of the first column whose header starts with one of ``prefixes`` (headers vary in brackets)."""
    for prefix in prefixes:
        for header, value in row.items():
            if header.startswith(prefix):
                return (value or "").strip().strip("\t").strip("`").strip()
    return ""


def _fen(text: str, what: str) -> int:
    try:
        return yuan_to_fen(text.replace(",", "") if text else "")
    except NotAnAmount as exc:
        raise InvalidRequest(f"支付宝账单的{what}不是金额：{text!r}", platform_code="bad_bill") from exc


def _time(text: str, fallback: datetime) -> datetime:
    try:
        return beijing_or_none(text) or fallback
    except ValueError:
        return fallback


def _tid(merchant_order_no: str) -> str:
    match = _TAOBAO_TID.match(merchant_order_no)
    return match.group(1) if match else ""


def _fee_kind(text: str) -> LineKind:
    """What an Alipay 收费 row or a TOP fee account is, by its name."""
    if "淘宝客" in text or "推广" in text or "聚划算" in text:
        return LineKind.PROMOTION_FEE
    if "佣金" in text or "技术服务费" in text:
        return LineKind.COMMISSION
    if "花呗" in text or "信用卡" in text or "支付服务费" in text or "手续费" in text:
        return LineKind.PAYMENT_FEE
    if "运费险" in text or "保险" in text:
        return LineKind.INSURANCE
    if "违规" in text or "罚" in text or "赔付" in text or "扣款" in text:
        return LineKind.PENALTY
    return LineKind.SERVICE_FEE


def _signcustomer_kind(business_type: str, text: str, amount: int) -> LineKind:
    if "退款" in business_type:
        return LineKind.REFUND
    if business_type in ("交易付款", "在线支付", "交易", "交易收款") or "付款" in business_type:
        return LineKind.SALE if amount >= 0 else LineKind.REFUND
    if "收费" in business_type or "服务费" in business_type:
        return _fee_kind(text)
    if "运费补贴" in text:
        return LineKind.SHIPPING_SUBSIDY
    if "补贴" in text or "红包" in text or "优惠" in text:
        return LineKind.PLATFORM_COUPON
    if "运费险" in text or "保险" in text:
        return LineKind.INSURANCE
    if "违规" in text or "罚" in text or "赔付" in text:
        return LineKind.PENALTY
    return LineKind.ADJUSTMENT


def _rows(text: str) -> tuple[list[str], list[dict[str, str]]]:
    """The header and rows of an Alipay CSV (``#`` lines are comments; values may carry tabs / backticks)."""
    content = [line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    if not content:
        return [], []
    reader = csv.reader(content)
    header = [cell.strip().strip("\t").strip("`").strip() for cell in next(reader)]
    rows: list[dict[str, str]] = []
    for cells in reader:
        if not any(cell.strip() for cell in cells):
            continue
        rows.append(dict(zip(header, cells, strict=False)))
    return header, rows


def read_bill_zip(content: bytes) -> tuple[str, list[dict[str, str]]]:
    """The detail file of an Alipay bill ZIP: (``signcustomer`` | ``trade``, rows). GBK text (UTF-8 read too)."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(content))
    except zipfile.BadZipFile as exc:
        raise PlatformUnavailable("支付宝账单文件不是 ZIP", platform_code="bad_bill") from exc
    with archive:
        for info in archive.infolist():
            raw = archive.read(info)
            for encoding in ("gb18030", "utf-8-sig"):
                try:
                    text = raw.decode(encoding)
                    break
                except UnicodeDecodeError:
                    continue
            else:
                continue
            header, rows = _rows(text)
            if any(h.startswith("账务流水号") for h in header):
                return "signcustomer", rows
            if any(h.startswith("支付宝交易号") for h in header):
                return "trade", rows
    raise PlatformUnavailable("支付宝账单 ZIP 中没有明细文件", platform_code="bad_bill")


def signcustomer_lines(rows: Iterable[Mapping[str, str]], day: date, *, fees: bool = True) -> list[SettlementLineIn]:
    """账务明细 rows → lines (one per row; withdrawals and top-ups left out; fee rows too unless ``fees``)."""
    fallback = datetime.combine(day, time(), SHANGHAI).astimezone(UTC)
    lines: list[SettlementLineIn] = []
    for row in rows:
        flow_id = _cell(row, "账务流水号")
        if not flow_id:
            continue
        business_type = _cell(row, "业务类型")
        memo = _cell(row, "备注")
        title = _cell(row, "商品名称")
        if any(word in business_type for word in _NOT_SETTLEMENT):
            continue
        amount = _fen(_cell(row, "收入金额"), "收入金额") - abs(_fen(_cell(row, "支出金额"), "支出金额"))
        merchant_order_no = _cell(row, "商户订单号")
        kind = _signcustomer_kind(business_type, f"{title} {memo}", amount)
        is_fee = kind not in (LineKind.SALE, LineKind.REFUND, LineKind.ADJUSTMENT, LineKind.PLATFORM_COUPON)
        if is_fee and not fees:  # the fees come from TOP's fee bills (see the module docstring)
            continue
        key = ""
        when = _time(_cell(row, "发生时间"), fallback)
        lines.append(
            SettlementLineIn(
                line_key=key or f"alipay:{flow_id}",
                external_id=_cell(row, "业务基础订单号") or _tid(merchant_order_no),
                kind=kind,
                amount=amount,
                settled_at=when,
                bill_date=day,
                occurred_at=when,
                memo=" ".join(part for part in (business_type, title, memo) if part),
                raw=dict(row),
            )
        )
    return lines


def trade_lines(rows: Iterable[Mapping[str, str]], day: date) -> list[SettlementLineIn]:
    """业务明细 rows → a SALE / REFUND line and a PAYMENT_FEE line (服务费) each."""
    fallback = datetime.combine(day, time(), SHANGHAI).astimezone(UTC)
    lines: list[SettlementLineIn] = []
    for row in rows:
        trade_no = _cell(row, "支付宝交易号")
        if not trade_no:
            continue
        business_type = _cell(row, "业务类型")
        refund = "退款" in business_type
        batch = _cell(row, "退款批次号") if refund else "pay"
        received = _fen(_cell(row, "商家实收"), "商家实收")
        fee = abs(_fen(_cell(row, "服务费"), "服务费"))
        merchant_order_no = _cell(row, "商户订单号")
        finished = _time(_cell(row, "完成时间"), fallback)
        created = _time(_cell(row, "创建时间"), finished)
        base = f"trade:{trade_no}:{batch or 'refund'}"
        common: dict[str, Any] = {
            "external_id": _tid(merchant_order_no) or merchant_order_no,
            "settled_at": finished,
            "bill_date": day,
            "occurred_at": created if not refund else finished,
            "memo": " ".join(part for part in (business_type, _cell(row, "商品名称"), _cell(row, "备注")) if part),
            "raw": dict(row),
        }
        lines.append(
            SettlementLineIn(
                line_key=f"{base}:main",
                kind=LineKind.REFUND if refund else LineKind.SALE,
                amount=-abs(received) if refund else received,
                **common,
            )
        )
        if fee:
            lines.append(
                SettlementLineIn(
                    line_key=f"{base}:fee",
                    kind=LineKind.PAYMENT_FEE,
                    amount=fee if refund else -fee,  # a refund gives the fee back
                    **common,
                )
            )
    return lines


def _list(value: Any, inner: str) -> list[dict[str, Any]]:
    """TOP JSON lists come wrapped: ``{"bills": {"bill": [...]}}``; read either shape."""
    if isinstance(value, Mapping):
        value = value.get(inner, [])
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def fee_bill_lines(
    bills: Iterable[Mapping[str, Any]], accounts: Mapping[str, str], day: date
) -> list[SettlementLineIn]:
    """``taobao.bill.bills.get`` bills → fee lines (``amount`` in fen, the fee the seller pays; negative when
    returned on a refund)."""
    fallback = datetime.combine(day, time(), SHANGHAI).astimezone(UTC)
    lines: list[SettlementLineIn] = []
    for bill in bills:
        bid = str(bill.get("bid") or "")
        if not bid:
            continue
        account_name = accounts.get(str(bill.get("account_id") or ""), "")
        amount = int(bill.get("amount") or 0)
        paid = _time(str(bill.get("pay_time") or ""), fallback)
        lines.append(
            SettlementLineIn(
                line_key=f"top:{bid}",
                external_id=str(bill.get("trade_id") or ""),
                sub_id=str(bill.get("order_id") or ""),
                kind=_fee_kind(account_name or str(bill.get("alipay_notice") or "")),
                amount=-amount,
                settled_at=paid,
                bill_date=day,
                occurred_at=_time(str(bill.get("biz_time") or ""), paid),
                memo=" ".join(p for p in (account_name, str(bill.get("alipay_notice") or "")) if p),
                raw=dict(bill),
            )
        )
    return lines


class TaobaoSettlementSource:
    """One Taobao/Tmall shop's settlement lines (Alipay account bill + TOP fee bills)."""

    platform: ClassVar[str] = "taobao"

    def __init__(
        self,
        credentials: Credentials,
        alipay: AlipaySettings,
        http: httpx.AsyncClient,
        *,
        bill_types: tuple[str, ...] = ("signcustomer",),
        top_fee_bills: bool = False,
        now: Any = None,
    ) -> None:
        self.alipay = AlipayClient(alipay, http)
        self.top = TopClient(credentials, http)
        self.bill_types = bill_types
        self.top_fee_bills = top_fee_bills and bool(credentials.access_token)
        self._now = now or (lambda: datetime.now(UTC))
        self._accounts: dict[str, str] | None = None

    def __repr__(self) -> str:
        return f"TaobaoSettlementSource({self.alipay!r})"

    async def fetch_day(self, day: date, cursor: str | None) -> SettlementPage:
        today = self._now().astimezone(SHANGHAI).date()
        if day >= today:
            raise _not_ready(day)
        if cursor is None:
            lines: list[SettlementLineIn] = []
            for bill_type in self.bill_types:
                lines.extend(await self._alipay_day(day, bill_type, today))
            return SettlementPage(lines=lines, next_cursor="top:1" if self.top_fee_bills else None)
        if cursor.startswith("top:") and cursor[4:].isdigit():
            return await self._fee_page(day, int(cursor[4:]))
        raise InvalidRequest("无效的结算翻页标记", platform_code="bad_cursor", platform_message=cursor)

    # ------------------------------------------------------------------ Alipay

    async def _alipay_day(self, day: date, bill_type: str, today: date) -> list[SettlementLineIn]:
        for attempt in range(1, URL_ATTEMPTS + 1):
            try:
                answer = await self.alipay.call(BILL_METHOD, {"bill_type": bill_type, "bill_date": day.isoformat()})
            except PlatformError as exc:
                sub_code = exc.platform_code.partition("/")[2].lower()
                if sub_code in _NOT_EXIST_SUB_CODES:
                    if today - day <= NOT_READY_GRACE:
                        raise _not_ready(day) from exc
                    return []  # an old day without a bill: nothing moved
                raise
            url = str(answer.get("bill_download_url") or "")
            if not url:
                raise PlatformUnavailable("支付宝没有给出账单下载地址", platform_code="bad_response")
            reply = await self.alipay.download(url)
            if reply.status_code == 200 and reply.content[:2] == b"PK":
                found, rows = read_bill_zip(reply.content)
                log.info("alipay %s bill %s: %d rows", bill_type, day, len(rows))
                if found == "signcustomer":
                    return signcustomer_lines(rows, day, fees=not self.top_fee_bills)
                return trade_lines(rows, day)
            # "下载超时，请重新下载": the URL expired (30 s) — ask for a new one.
            log.warning("alipay bill URL unusable (HTTP %d), attempt %d", reply.status_code, attempt)
        raise PlatformUnavailable(
            "支付宝账单下载地址已失效（30 秒有效期），多次重试未成功", platform_code="bill_url_expired"
        )

    # --------------------------------------------------------------------- TOP

    async def _fee_accounts(self) -> dict[str, str]:
        if self._accounts is None:
            body = await self.top.call(FEE_ACCOUNTS_METHOD, {"fields": "account_id,account_code,account_name"})
            self._accounts = {
                str(a.get("account_id")): str(a.get("account_name") or a.get("account_code") or "")
                for a in _list(body.get("accounts"), "account")
            }
        return self._accounts

    async def _fee_page(self, day: date, page: int) -> SettlementPage:
        accounts = await self._fee_accounts()
        start = datetime.combine(day, time(), SHANGHAI)
        body = await self.top.call(
            FEE_BILLS_METHOD,
            {
                "fields": FEE_BILL_FIELDS,
                "start_time": start,
                "end_time": start + timedelta(days=1) - timedelta(seconds=1),  # ≤ 1 day per query
                "time_type": 2,  # 2: by 支付宝扣款时间 pay_time (the day the money moved)
                "page_no": page,
                "page_size": FEE_PAGE_SIZE,
            },
        )
        lines = fee_bill_lines(_list(body.get("bills"), "bill"), accounts, day)
        has_next = body.get("has_next") in (True, "true")
        return SettlementPage(lines=lines, next_cursor=f"top:{page + 1}" if has_next else None)


def create_settlement_source(
    credentials: Credentials, extra: Mapping[str, str], http: httpx.AsyncClient
) -> TaobaoSettlementSource:
    """The factory ``server.wiring`` registers for ``taobao`` and ``tmall`` (settings: the module docstring)."""
    app_id = extra.get("alipay_app_id", "").strip()
    private_key = extra.get("alipay_private_key", "").strip()
    if not app_id or not private_key:
        raise InvalidRequest(
            "淘宝/天猫店铺的结算需要支付宝开放平台的 app_id 与应用私钥", platform_code="missing_alipay_settings"
        )
    alipay = AlipaySettings(
        app_id=app_id,
        private_key=private_key,
        alipay_public_key=extra.get("alipay_public_key", "").strip(),
        base_url=extra.get("alipay_gateway", "").strip(),
        app_auth_token=extra.get("alipay_app_auth_token", "").strip(),
    )
    types = tuple(t.strip() for t in extra.get("alipay_bill_types", "signcustomer").split(",") if t.strip())
    unknown = [t for t in types if t not in ("signcustomer", "trade")]
    if unknown or not types:
        raise InvalidRequest("支付宝账单类型只能是 signcustomer 或 trade", platform_code="bad_bill_type")
    return TaobaoSettlementSource(
        credentials,
        alipay,
        http,
        bill_types=types,
        top_fee_bills=extra.get("top_fee_bills", "0").strip() in ("1", "true", "yes"),
    )
