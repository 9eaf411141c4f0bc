"""拼多多 settlement data: the daily balance bill (商家货款日账单) as settlement lines.

``pdd.finance.balance.daily.bill.url.get`` (商家货款日账单下载链接查询接口; ``bill_date`` ``yyyy-MM-dd``: "例如入参为
“2019-03-24”，则返回2019年3月24日的商家货款日账单的下载链接") answers
``{"finance_balance_daily_bill_url_get_response": {"download_url": ...}}`` through the POP gateway
(:class:`~orderhub.channels.pdd.client.PddClient`). The file behind the URL is downloaded at once and read: CSV (GBK
or UTF-8, possibly zipped), ``#`` lines and lines before the header are skipped, columns as in the 货款明细 export —
商户订单号, 发生时间, 收入金额（+元）, 支出金额（-元）, 账务类型, 备注, 业务描述 (matched by name, brackets either way).

Each row is one line: signed amount = 收入 − |支出| (元 → fen), kind by 账务类型 / 业务描述 (交易收入 → SALE, 退款 →
REFUND, 技术服务费 / 佣金 → COMMISSION, 多多进宝 / 推广 → PROMOTION_FEE, 运费险 → INSURANCE, 补贴 / 优惠券 →
PLATFORM_COUPON, 扣款 / 违规 / 罚 → PENALTY, 服务费 → SERVICE_FEE, anything else → ADJUSTMENT). Withdrawals (提现) are
left out. The bill has no row id: ``line_key`` is ``pdd:<bill day>:<digest>``, the digest of the fields that
identify the row (order no, time, type — never its amounts or text, so a corrected row keeps its key and replaces
the old line) plus its occurrence number among rows alike in those — stable across re-pulls of the same day.

The bill is daily and T+1: a day not yet over, an empty ``download_url``, or a refusal saying the bill is not
generated yet (账单未生成 / 暂无账单 / 账单不存在) is ``bill_not_ready`` — for a day older than three days such a
refusal means a day without movement (an empty page). One file = one page.
"""

from __future__ import annotations

import csv
import hashlib
import io
import zipfile
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, date, datetime, time, timedelta
from typing import ClassVar, Final

import httpx

from orderhub.channels.pdd.client import PddClient
from orderhub.channels.port import Credentials, InvalidRequest, PlatformError, PlatformUnavailable
from orderhub.clock import SHANGHAI
from orderhub.finance.port import LineKind, SettlementLineIn, SettlementPage
from orderhub.wire import NotAnAmount, beijing_or_none, yuan_to_fen

__all__ = [
    "BILL_METHOD",
    "PddSettlementSource",
    "bill_lines",
    "create_settlement_source",
    "read_bill_file",
]

BILL_METHOD: Final = "pdd.finance.balance.daily.bill.url.get"
_NOT_READY_WORDS: Final = ("未生成", "暂无账单", "账单不存在", "生成中")
NOT_READY_GRACE: Final = timedelta(days=3)  # "no bill" for a day older than this means a day with no movement


def _not_ready(day: date) -> PlatformUnavailable:
    return PlatformUnavailable(
        f"拼多多 {day.isoformat()} 的货款日账单尚未生成", platform_code="bill_not_ready", retry_after=3600
    )


def _decode(raw: bytes) -> str:
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise PlatformUnavailable("拼多多账单文件的编码无法识别", platform_code="bad_bill")


def read_bill_file(content: bytes) -> list[dict[str, str]]:
    """The rows of a daily bill file (CSV, or a ZIP holding it)."""
    if content[:2] == b"PK":
        try:
            with zipfile.ZipFile(io.BytesIO(content)) as archive:
                members = [info for info in archive.infolist() if not info.is_dir()]
                texts = [_decode(archive.read(info)) for info in members]
        except zipfile.BadZipFile as exc:
            raise PlatformUnavailable("拼多多账单文件损坏", platform_code="bad_bill") from exc
    else:
        texts = [_decode(content)]
    for text in texts:
        lines = [line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
        for at, line in enumerate(lines):
            if "商户订单号" in line or "订单号" in line.split(",")[0]:
                reader = csv.reader(lines[at:])
                header = [cell.strip().strip("\t").strip() for cell in next(reader)]
                return [dict(zip(header, cells, strict=False)) for cells in reader if any(c.strip() for c in cells)]
    raise PlatformUnavailable("拼多多账单文件中没有找到表头（商户订单号…）", platform_code="bad_bill")


def _cell(row: Mapping[str, str], *prefixes: str) -> str:
    for prefix in prefixes:
        for header, value in row.items():
            if header.startswith(prefix):
                return (value or "").strip().strip("\t").strip()
    return ""


def _fen(text: str) -> int:
    try:
        return yuan_to_fen(text.replace(",", ""))
    except NotAnAmount as exc:
        raise InvalidRequest(f"拼多多账单的金额无法读取：{text!r}", platform_code="bad_bill") from exc


def _kind(kind_text: str, text: str, amount: int) -> LineKind:
    if "退款" in kind_text or "退款" in text:
        return LineKind.REFUND
    if "交易收入" in kind_text or "订单收入" in kind_text or "货款" in kind_text:
        return LineKind.SALE if amount >= 0 else LineKind.REFUND
    if "技术服务费" in text or "佣金" in text:
        return LineKind.COMMISSION
    if "多多进宝" in text or "推广" in text:
        return LineKind.PROMOTION_FEE
    if "运费险" in text or "保险" in text:
        return LineKind.INSURANCE
    if "运费补贴" in text:
        return LineKind.SHIPPING_SUBSIDY
    if "补贴" in text or "优惠券" in text or "优惠" in text:
        return LineKind.PLATFORM_COUPON
    if "扣款" in text or "违规" in text or "罚" in text or "赔付" in text:
        return LineKind.PENALTY
    if "服务费" in text or "手续费" in text:
        return LineKind.SERVICE_FEE
    return LineKind.ADJUSTMENT


def bill_lines(rows: Iterable[Mapping[str, str]], day: date) -> list[SettlementLineIn]:
    """Daily bill rows → lines (see the module docstring for the keys)."""
    fallback = datetime.combine(day, time(), SHANGHAI).astimezone(UTC)
    seen: Counter[str] = Counter()
    lines: list[SettlementLineIn] = []
    for row in rows:
        order_no = _cell(row, "商户订单号", "订单号")
        kind_text = _cell(row, "账务类型")
        memo = _cell(row, "备注")
        description = _cell(row, "业务描述")
        if "提现" in kind_text:
            continue
        income = _cell(row, "收入金额")
        outgo = _cell(row, "支出金额")
        amount = _fen(income) - abs(_fen(outgo))
        when_text = _cell(row, "发生时间")
        try:
            when = beijing_or_none(when_text) or fallback
        except ValueError:
            when = fallback
        # What identifies the row, never its amounts or free text: a re-issued bill that corrects an amount keeps
        # the row's key, so the corrected line replaces the old one instead of adding to it.
        identity = "\x1f".join((order_no, when_text, kind_text))
        seen[identity] += 1
        digest = hashlib.sha256(f"{identity}\x1f{seen[identity]}".encode()).hexdigest()[:24]
        lines.append(
            SettlementLineIn(
                line_key=f"pdd:{day.isoformat()}:{digest}",
                external_id=order_no,
                kind=_kind(kind_text, f"{kind_text} {description} {memo}", amount),
                amount=amount,
                settled_at=when,
                bill_date=day,
                occurred_at=when,
                memo=" ".join(p for p in (kind_text, description, memo) if p),
                raw=dict(row),
            )
        )
    return lines


class PddSettlementSource:
    """One 拼多多 shop's settlement lines."""

    platform: ClassVar[str] = "pdd"

    def __init__(
        self, credentials: Credentials, http: httpx.AsyncClient, *, now: Callable[[], datetime] | None = None
    ) -> None:
        self.client = PddClient(credentials, http)
        self._http = http
        self._now = now or (lambda: datetime.now(UTC))

    def __repr__(self) -> str:
        return f"PddSettlementSource({self.client!r})"

    async def fetch_day(self, day: date, cursor: str | None) -> SettlementPage:
        if cursor is not None:
            raise InvalidRequest("拼多多货款日账单只有一页", platform_code="bad_cursor", platform_message=cursor)
        if day >= self._now().astimezone(SHANGHAI).date():
            raise _not_ready(day)
        try:
            answer = await self.client.call(BILL_METHOD, {"bill_date": day.isoformat()})
        except PlatformError as exc:
            if any(word in exc.platform_message for word in _NOT_READY_WORDS):
                if self._now().astimezone(SHANGHAI).date() - day > NOT_READY_GRACE:
                    return SettlementPage(lines=[], next_cursor=None)  # an old day without a bill: nothing moved
                raise _not_ready(day) from exc
            raise
        url = str(answer.get("download_url") or "")
        if not url:
            raise _not_ready(day)
        try:
            reply = await self._http.get(url, timeout=httpx.Timeout(60.0, connect=5.0), follow_redirects=True)
        except httpx.HTTPError as exc:
            raise PlatformUnavailable(
                "无法下载拼多多货款日账单", platform_code="network", platform_message=type(exc).__name__
            ) from exc
        if reply.status_code != 200:
            raise PlatformUnavailable(
                f"拼多多账单下载失败（HTTP {reply.status_code}）", platform_code="bill_download_failed"
            )
        return SettlementPage(lines=bill_lines(read_bill_file(reply.content), day), next_cursor=None)


def create_settlement_source(
    credentials: Credentials, extra: Mapping[str, str], http: httpx.AsyncClient
) -> PddSettlementSource:
    """The factory for ``pdd`` (no extra settings)."""
    del extra
    return PddSettlementSource(credentials, http)
