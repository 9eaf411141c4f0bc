"""Settlement data the simulated platforms serve, seeded by tests in each vendor's own terms.

:class:`SettlementSeeding` is mixed into :class:`~sandbox.platforms.store.PlatformStore`, so a test writes::

    app = store.create_alipay_app(app_key=taobao_seller.app_key)          # the shop's Alipay app + keys
    store.add_alipay_bill_row(app.app_id, date(2026, 12, 7), {"商户订单号": "T200P4242", "收入金额（+元）": 8800})
    store.add_douyin_settlement(seller.app_key, shop_order_id="69…", settle_time=..., real_pay_amount=9900, ...)
    store.add_douyin_account_item(seller.app_key, bill_time=..., account_amount=9000, ...)
    store.add_pdd_bill_row(seller.app_key, date(2026, 12, 7), {"商户订单号": "261207-…", "收入金额（+元）": 1990})
    store.add_wechat_funds_flow(seller.app_key, amount=5900, bookkeeping_time=..., order_id="37…")
    store.add_wechat_order_flow(seller.app_key, order_id="37…", mch_settle_amount=5600, ...)
    store.add_top_fee_bill(taobao_seller.app_key, amount=500, pay_time=..., trade_id="42…", account_id=10003011)

Field names are the vendors' (Chinese CSV column names for the file bills, the JSON field names for the APIs). Money
given as an ``int`` is fen; the file bills render it as yuan strings (``8800`` → ``"88.00"``), the JSON APIs keep fen
as the vendors document (抖店 ``*_amount`` in 分, 微信小店 ``amount`` in 分, TOP's fee bill ``amount`` in 分).

Everything here is in-memory and guarded by one lock (the simulator runs on its own thread).
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

__all__ = [
    "ALIPAY_ACCOUNT_COLUMNS",
    "ALIPAY_TRADE_COLUMNS",
    "PDD_BILL_COLUMNS",
    "TMALL_FEE_ALIPAY_ID",
    "TOP_BILL_FIELDS",
    "TOP_BOOK_BILL_FIELDS",
    "TOP_FEE_ACCOUNT_FIELDS",
    "AlipayApp",
    "DownloadFile",
    "SettlementData",
    "SettlementSeeding",
    "fen_of",
    "generate_rsa_keypair",
    "yuan_text",
]

_SHANGHAI = ZoneInfo("Asia/Shanghai")

# 支付宝「账务明细」(bill_type=signcustomer) columns, as in the files Alipay serves (the classic twelve, see the
# sample reproduced in public parsers of the file, e.g. "账务流水号,业务流水号,商户订单号,商品名称,发生时间,对方账号,
# 收入金额（+元）,支出金额（-元）,账户余额（元）,交易渠道,业务类型,备注"), plus the two Alipay added later
# (业务基础订单号 = the Taobao order id, 业务描述).
# Doc: https://opendocs.alipay.com/open/204/106262 (对账说明) and the API page
# https://opendocs.alipay.com/apis/api_15/alipay.data.dataservice.bill.downloadurl.query
ALIPAY_ACCOUNT_COLUMNS: tuple[str, ...] = (
    "账务流水号",
    "业务流水号",
    "商户订单号",
    "商品名称",
    "发生时间",
    "对方账号",
    "收入金额（+元）",
    "支出金额（-元）",
    "账户余额（元）",
    "交易渠道",
    "业务类型",
    "备注",
    "业务基础订单号",
    "业务描述",
)

# 支付宝「业务明细」(bill_type=trade) columns.
ALIPAY_TRADE_COLUMNS: tuple[str, ...] = (
    "支付宝交易号",
    "商户订单号",
    "业务类型",
    "商品名称",
    "创建时间",
    "完成时间",
    "门店编号",
    "门店名称",
    "操作员",
    "终端号",
    "对方账户",
    "订单金额（元）",
    "商家实收（元）",
    "支付宝红包（元）",
    "集分宝（元）",
    "支付宝优惠（元）",
    "商家优惠（元）",
    "券核销金额（元）",
    "券名称",
    "商家红包消费金额（元）",
    "卡消费金额（元）",
    "退款批次号/请求号",
    "服务费（元）",
    "分润（元）",
    "备注",
)

# 拼多多 商家货款日账单 columns. The open platform documents only the URL API (``download_url``); the file's columns
# are those of the 货款账单 export in the merchant back office as ERP vendors expose them (商户订单号, 发生时间,
# 收入金额, 支出金额, 账务类型, 备注, 业务描述) — see https://open.kuaimai.com/docs/unpublish/智库/拼多多原始账单明细.
PDD_BILL_COLUMNS: tuple[str, ...] = (
    "商户订单号",
    "发生时间",
    "收入金额（+元）",
    "支出金额（-元）",
    "账务类型",
    "备注",
    "业务描述",
)

_ALIPAY_MONEY = {
    "收入金额（+元）",
    "支出金额（-元）",
    "账户余额（元）",
    "订单金额（元）",
    "商家实收（元）",
    "支付宝红包（元）",
    "集分宝（元）",
    "支付宝优惠（元）",
    "商家优惠（元）",
    "券核销金额（元）",
    "商家红包消费金额（元）",
    "卡消费金额（元）",
    "服务费（元）",
    "分润（元）",
}
_PDD_MONEY = {"收入金额（+元）", "支出金额（-元）"}

# TOP fee bills (淘宝开放平台「账务API」, for 自研发商家). The structures, as the API pages list them:
# - ``Bill`` of taobao.bill.bills.get (https://open.taobao.com/api.htm?docId=21713, mirrored at
#   https://open.fliggy.com/docs/api.htm?apiId=21713): amounts are Number in 分 ("amount": 账单金额，退款时返回的是负数;
#   "total_amount": 交易金额, example 21100), trade_id / order_id / num_iid are String, status 0-未支付 1-支付成功
#   2-支付失败, alipay_no "暂不提供". The official Java SDK's ``com.taobao.api.domain.Bill`` has the same twenty fields.
# - ``Account`` of taobao.bill.accounts.get (apiId=21709): 费用科目; account_type 1-虚拟账户 2-交易 3-交易佣金
#   4-服务费 5-天猫积分 6-其他; related_order 0-订单无关 1-订单相关; status 0-不可用 1-可用.
# - ``BookBill`` of taobao.bill.book.bills.get (apiId=21712): 虚拟账户明细; journal_type 101 可用金充值, 102 可用金扣除,
#   103 冻结, 104 解冻, 105 冻结金充值, 106 冻结金扣除.
TOP_BILL_FIELDS: tuple[str, ...] = (
    "bid",
    "account_id",
    "trade_id",
    "order_id",
    "total_amount",
    "amount",
    "book_time",
    "biz_time",
    "pay_time",
    "alipay_mail",
    "obj_alipay_mail",
    "obj_alipay_id",
    "alipay_outno",
    "alipay_notice",
    "status",
    "gmt_create",
    "gmt_modified",
    "num_iid",
    "alipay_id",
    "alipay_no",
)
TOP_FEE_ACCOUNT_FIELDS: tuple[str, ...] = (
    "account_id",
    "account_code",
    "account_name",
    "account_type",
    "related_order",
    "status",
    "gmt_create",
    "gmt_modified",
)
TOP_BOOK_BILL_FIELDS: tuple[str, ...] = (
    "bid",
    "account_id",
    "journal_type",
    "amount",
    "book_time",
    "description",
    "gmt_create",
    "gmt_modified",
    "taobao_alipay_id",
    "other_alipay_id",
)
# The receiving Alipay account of Tmall's fees: the accounts.get/bills.get pages' example obj_alipay_id.
TMALL_FEE_ALIPAY_ID = "20887017343856590156"
TOP_COMMISSION_ACCOUNT_ID = 10003011  # the docs' example: ACCT_TMALL_COMM 天猫佣金


def _default_top_accounts() -> dict[int, dict[str, Any]]:
    """The 费用科目 the simulated TOP knows. 10003011 ACCT_TMALL_COMM 天猫佣金 is the accounts.get page's example;
    the other ids come from the same page's ``aids`` example (10002011, 10005011) and the book.bills.get page's
    virtual account example (20001021), with names and codes of the simulator's choosing."""
    since = "2013-01-01 00:00:00"
    rows = [
        (10002011, "ACCT_TRADE", "交易", 2, 1),
        (10003011, "ACCT_TMALL_COMM", "天猫佣金", 3, 1),
        (10004011, "ACCT_TECH_SERVICE", "技术服务费", 4, 1),
        (10005011, "ACCT_TMALL_POINT", "天猫积分", 5, 1),
        (10006011, "ACCT_JHS_FEE", "聚划算佣金", 3, 1),
        (20001021, "ACCT_VIRTUAL_DEPOSIT", "消费者保障保证金", 1, 0),
    ]
    return {
        aid: {
            "account_id": aid,
            "account_code": code,
            "account_name": name,
            "account_type": kind,
            "related_order": related,
            "status": 1,
            "gmt_create": since,
            "gmt_modified": since,
        }
        for aid, code, name, kind, related in rows
    }


def yuan_text(fen: int) -> str:
    """Fen to a yuan string with two decimals: ``-1230`` → ``"-12.30"``."""
    sign = "-" if fen < 0 else ""
    fen = abs(fen)
    return f"{sign}{fen // 100}.{fen % 100:02d}"


def fen_of(text: str) -> int:
    """Yuan text back to fen (for running balances and totals)."""
    value = text.strip().replace(",", "")
    if not value:
        return 0
    negative = value.startswith("-")
    value = value.lstrip("+-")
    whole, _, frac = value.partition(".")
    fen = int(whole or "0") * 100 + int((frac + "00")[:2])
    return -fen if negative else fen


def generate_rsa_keypair(bits: int = 2048) -> tuple[str, str]:
    """A fresh RSA key pair as (PKCS#8 private PEM, SubjectPublicKeyInfo public PEM)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private, public


@dataclass
class AlipayApp:
    """A shop's Alipay open-platform app: its id, its RSA2 key pair (the shop signs with the private key; the
    simulated gateway verifies with the public one) and the simulated Alipay's public key the shop verifies answers
    with. ``user_id`` is the 2088… account the bills belong to."""

    app_id: str
    app_private_key_pem: str
    app_public_key_pem: str
    alipay_public_key_pem: str
    user_id: str
    seller_app_key: str = ""  # the Taobao seller this Alipay account belongs to (informational)


@dataclass
class DownloadFile:
    content: bytes
    file_name: str
    media_type: str
    expires_at: datetime


@dataclass
class SettlementData:
    """What the settlement simulators serve (reach it as ``store.settlements``).

    Knobs:

    - ``alipay_url_ttl``: how long a ``bill_download_url`` works (30 s, as Alipay documents).
    - ``pdd_url_ttl``: how long a PDD ``download_url`` works (the PDD docs name no lifetime; 10 minutes here).
    - ``pdd_bill_encoding``: the PDD bill CSV's encoding (``gbk`` by default; ``utf-8-sig`` also seen in the wild).
    - ``t_plus_one``: bills and settled data of today (Asia/Shanghai) are not available yet (on by default).
    - ``wechat_flow_publish_hour``: 微信小店 funds flows of day D are listed from D+1 at this hour (16).
    """

    now: Callable[[], datetime]
    lock: threading.RLock = field(default_factory=threading.RLock)
    alipay_url_ttl: timedelta = timedelta(seconds=30)
    pdd_url_ttl: timedelta = timedelta(minutes=10)
    pdd_bill_encoding: str = "gbk"
    t_plus_one: bool = True
    wechat_flow_publish_hour: int = 16  # 微信小店 publishes a day's funds flows the next day at 16:00
    alipay_private_key_pem: str = ""
    alipay_public_key_pem: str = ""
    alipay_apps: dict[str, AlipayApp] = field(default_factory=dict)
    # (app_id, bill_type, day) → rows (column → text)
    alipay_bills: dict[tuple[str, str, date], list[dict[str, str]]] = field(default_factory=dict)
    douyin_settlements: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    douyin_account_items: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    pdd_bills: dict[tuple[str, date], list[dict[str, str]]] = field(default_factory=dict)
    wechat_funds_flows: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    wechat_order_flows: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    top_accounts: dict[int, dict[str, Any]] = field(default_factory=_default_top_accounts)
    top_fee_bills: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # app_key → Bill rows
    top_book_bills: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # app_key → BookBill rows
    top_alipay_ids: dict[str, str] = field(default_factory=dict)  # app_key → the seller's Alipay account no.
    downloads: dict[str, DownloadFile] = field(default_factory=dict)
    alipay_requests: list[tuple[str, str, str]] = field(default_factory=list)  # (method, app_id, outcome)
    _seq: int = 0

    def next_seq(self) -> int:
        with self.lock:
            self._seq += 1
            return self._seq

    def today(self) -> date:
        return self.now().astimezone(_SHANGHAI).date()

    def bill_ready(self, day: date) -> bool:
        """T+1: a day's bill exists from the next day on."""
        return day < self.today() if self.t_plus_one else day <= self.today()

    def alipay_keys(self) -> tuple[str, str]:
        """The simulated Alipay's own key pair (made on first use)."""
        with self.lock:
            if not self.alipay_private_key_pem:
                self.alipay_private_key_pem, self.alipay_public_key_pem = generate_rsa_keypair()
            return self.alipay_private_key_pem, self.alipay_public_key_pem

    def publish_download(self, content: bytes, file_name: str, media_type: str, ttl: timedelta) -> str:
        """Register a file behind a fresh token that stops working after ``ttl``."""
        token = secrets.token_hex(16)
        with self.lock:
            now = self.now()
            for key in [k for k, v in self.downloads.items() if v.expires_at < now - timedelta(hours=1)]:
                del self.downloads[key]
            self.downloads[token] = DownloadFile(content, file_name, media_type, now + ttl)
        return token

    def take_download(self, token: str) -> DownloadFile | None:
        """The file behind ``token`` while it is valid; ``None`` when unknown or expired."""
        with self.lock:
            item = self.downloads.get(token)
            if item is None or self.now() >= item.expires_at:
                return None
            return item


def _text(value: Any, *, money: bool) -> str:
    if value is None:
        return ""
    if money and isinstance(value, int) and not isinstance(value, bool):
        return yuan_text(value)
    if isinstance(value, datetime):
        return value.astimezone(_SHANGHAI).strftime("%Y-%m-%d %H:%M:%S")
    return str(value)


def _stamp(value: datetime | str) -> str:
    if isinstance(value, datetime):
        return value.astimezone(_SHANGHAI).strftime("%Y-%m-%d %H:%M:%S")
    return value


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=_SHANGHAI)


class SettlementSeeding:
    """Test-facing seeding methods (mixed into ``PlatformStore``; ``self.settlements`` holds the data)."""

    settlements: SettlementData

    # ------------------------------------------------------------------ Alipay

    def create_alipay_app(
        self,
        *,
        app_key: str = "",
        app_id: str | None = None,
        app_private_key_pem: str | None = None,
        app_public_key_pem: str | None = None,
        user_id: str | None = None,
    ) -> AlipayApp:
        """Register a shop's Alipay app. Without keys a fresh RSA-2048 pair is made (give only the public PEM when
        the test keeps the private key itself). ``app_key`` links it to a Taobao seller (informational)."""
        s = self.settlements
        _, alipay_public = s.alipay_keys()
        if app_public_key_pem is None:
            app_private_key_pem, app_public_key_pem = generate_rsa_keypair()
        with s.lock:
            new_id = app_id or "2021" + f"{secrets.randbelow(10**12):012d}"
            app = AlipayApp(
                app_id=new_id,
                app_private_key_pem=app_private_key_pem or "",
                app_public_key_pem=app_public_key_pem,
                alipay_public_key_pem=alipay_public,
                user_id=user_id or "2088" + f"{secrets.randbelow(10**12):012d}",
                seller_app_key=app_key,
            )
            s.alipay_apps[new_id] = app
            return app

    def alipay_app(self, app_id: str) -> AlipayApp | None:
        with self.settlements.lock:
            return self.settlements.alipay_apps.get(app_id)

    @property
    def alipay_public_key_pem(self) -> str:
        """The simulated Alipay's public key (the shop verifies answers with it)."""
        return self.settlements.alipay_keys()[1]

    def open_alipay_bill(self, app_id: str, day: date, *, bill_type: str = "signcustomer") -> None:
        """Make a day's bill exist even with no rows (a day without money movement otherwise has no bill)."""
        with self.settlements.lock:
            self.settlements.alipay_bills.setdefault((app_id, bill_type, day), [])

    def add_alipay_bill_row(
        self, app_id: str, day: date, fields: Mapping[str, Any], *, bill_type: str = "signcustomer"
    ) -> dict[str, str]:
        """One line of the day's bill, by Alipay's column names (``ALIPAY_ACCOUNT_COLUMNS`` for signcustomer,
        ``ALIPAY_TRADE_COLUMNS`` for trade; other names become extra columns). Ints in money columns are fen.
        Missing ids, the time (the day at 10:00 plus a second per line) and, for signcustomer, the running
        ``账户余额（元）`` are filled in. Returns the row as it will be written."""
        if bill_type not in ("signcustomer", "trade"):
            raise ValueError("bill_type is signcustomer or trade")
        s = self.settlements
        with s.lock:
            if app_id not in s.alipay_apps:
                raise KeyError(f"no Alipay app {app_id!r} (store.create_alipay_app first)")
            rows = s.alipay_bills.setdefault((app_id, bill_type, day), [])
            row = {name: _text(value, money=name in _ALIPAY_MONEY) for name, value in fields.items()}
            seq = s.next_seq()
            at = datetime.combine(day, time(10, 0), _SHANGHAI) + timedelta(seconds=len(rows))
            if bill_type == "signcustomer":
                row.setdefault("账务流水号", f"{day:%Y%m%d}{seq:012d}")
                row.setdefault("业务流水号", f"{day:%Y%m%d}2000{seq:012d}")
                row.setdefault("发生时间", _stamp(at))
                row.setdefault("收入金额（+元）", "0.00")
                row.setdefault("支出金额（-元）", "0.00")
                row.setdefault("交易渠道", "支付宝")
                row.setdefault("业务类型", "交易付款")
                if "账户余额（元）" not in row:
                    before = fen_of(rows[-1].get("账户余额（元）", "0")) if rows else 0
                    delta = fen_of(row["收入金额（+元）"]) - abs(fen_of(row["支出金额（-元）"]))
                    row["账户余额（元）"] = yuan_text(before + delta)
            else:
                row.setdefault("支付宝交易号", f"{day:%Y%m%d}2200{seq:016d}")
                row.setdefault("业务类型", "交易")
                row.setdefault("创建时间", _stamp(at))
                row.setdefault("完成时间", _stamp(at))
            rows.append(row)
            return dict(row)

    def alipay_bill_rows(self, app_id: str, day: date, *, bill_type: str = "signcustomer") -> list[dict[str, str]]:
        with self.settlements.lock:
            return [dict(r) for r in self.settlements.alipay_bills.get((app_id, bill_type, day), [])]

    # ------------------------------------------------------------------ 抖店

    def add_douyin_settlement(
        self,
        app_key: str,
        *,
        shop_order_id: str,
        settle_time: datetime,
        order_id: str | None = None,
        **fields: Any,
    ) -> dict[str, Any]:
        """One ``order.getSettleBillDetailV3`` row (a settled sub-order), by the API's field names, amounts in fen:
        ``real_pay_amount``, ``platform_coupon``, ``author_coupon``, ``zt_pay_promotion``, ``zr_pay_promotion``,
        ``post_amount``, ``shop_coupon``, ``refund_before_settle``, ``platform_service_fee``, ``commission``,
        ``good_learn_channel_fee``, ``colonel_service_fee``, ``channel_promotion_fee``, ``other_sharing_amount``,
        ``trade_type`` (0 settled, 1 refund after settlement …), ``order_time``, ``product_id``, ``remark`` ….

        Not given: ``total_income`` = user payment + the four subsidies; ``total_outcome`` = the six fees;
        ``settle_amount`` = total_income − total_outcome − refund_before_settle (the simulator's convention — the
        docs name the fields, not the formula)."""
        s = self.settlements
        row: dict[str, Any] = {
            "settle_time": _stamp(settle_time),
            "request_no": fields.pop("request_no", None) or f"SN{s.next_seq():016d}",
            "shop_order_id": shop_order_id,
            "order_id": order_id or shop_order_id,
            "pay_type_desc": "聚合账户",
            "trade_type": 0,
            "is_contains_refund_before_settle": 0,
            "order_time": "",
            "product_id": "",
            "goods_count": 1,
            "flow_type_desc": "小店自卖",
            "order_type": "普通订单",
            "total_amount": 0,
            "total_goods_amount": 0,
            "post_amount": 0,
            "shop_coupon": 0,
            "refund_before_settle": 0,
            "platform_coupon": 0,
            "author_coupon": 0,
            "zt_pay_promotion": 0,
            "zr_pay_promotion": 0,
            "real_pay_amount": 0,
            "platform_service_fee": 0,
            "commission": 0,
            "good_learn_channel_fee": 0,
            "colonel_service_fee": 0,
            "channel_promotion_fee": 0,
            "other_sharing_amount": 0,
            "remark": "",
            "packing_amount": 0,
            "free_commission_flag": "否",
            "real_free_commission_amount": 0,
        }
        for name, value in fields.items():
            row[name] = _stamp(value) if isinstance(value, datetime) else value
        if "total_income" not in fields:
            row["total_income"] = sum(
                int(row[k])
                for k in ("real_pay_amount", "platform_coupon", "author_coupon", "zt_pay_promotion", "zr_pay_promotion")
            )
        if "total_outcome" not in fields:
            row["total_outcome"] = sum(
                int(row[k])
                for k in (
                    "platform_service_fee",
                    "commission",
                    "good_learn_channel_fee",
                    "colonel_service_fee",
                    "channel_promotion_fee",
                    "other_sharing_amount",
                )
            )
        if "settle_amount" not in fields:
            row["settle_amount"] = (
                int(row["total_income"]) - int(row["total_outcome"]) - int(row["refund_before_settle"])
            )
        if row["refund_before_settle"] and "is_contains_refund_before_settle" not in fields:
            row["is_contains_refund_before_settle"] = 1
        with s.lock:
            s.douyin_settlements.setdefault(app_key, []).append({"_seq": s.next_seq(), **row})
        return dict(row)

    def add_douyin_account_item(
        self, app_key: str, *, bill_time: datetime, account_amount: int, fund_flow: int = 0, **fields: Any
    ) -> dict[str, Any]:
        """One ``order.getShopAccountItem`` row (a money movement on the shop account), by the API's field names;
        ``fund_flow`` 0 入账 / 1 出账, amounts in fen, ``account_bill_desc_tag`` 3 订单结算 by default."""
        s = self.settlements
        row: dict[str, Any] = {
            "bill_time": _stamp(bill_time),
            "fund_flow": fund_flow,
            "fund_flow_desc": "出账" if fund_flow == 1 else "入账",
            "account_amount": account_amount,
            "account_bill_desc": "订单结算",
            "account_bill_desc_tag": 3,
            "biz_type": 4,
            "biz_type_desc": "小店自卖",
            "order_id": "",
            "shop_order_id": "",
            "after_sale_service_no": "",
            "business_order_create_time": "",
            "product_id": "",
            "pay_amount": 0,
            "promotion_amount": 0,
            "refund_amount": 0,
            "platform_service_fee": 0,
            "commission": 0,
            "channel_fee": 0,
            "colonel_service_fee": 0,
            "account_type": 4,
            "account_type_desc": "聚合支付",
            "author_coupon_subsidy": 0,
            "post_amount": 0,
            "account_trade_no": fields.pop("account_trade_no", None) or f"AT{s.next_seq():018d}",
            "order_type": 0,
            "order_type_desc": "普通订单",
            "actual_zt_pay_promotion": 0,
            "actual_zr_pay_promotion": 0,
            "channel_promotion_fee": 0,
            "other_sharing_amount": 0,
            "remark": "",
            "shop_id": "",
            "trans_scene": "货款结算入账",
            "trans_scene_tag": 30,
            "free_commission_flag": "否",
            "real_free_commission_amount": 0,
        }
        for name, value in fields.items():
            row[name] = _stamp(value) if isinstance(value, datetime) else value
        with s.lock:
            s.douyin_account_items.setdefault(app_key, []).append({"_seq": s.next_seq(), **row})
        return dict(row)

    # ------------------------------------------------------------------ 拼多多

    def add_pdd_bill_row(self, client_id: str, day: date, fields: Mapping[str, Any]) -> dict[str, str]:
        """One line of the shop's 货款日账单 for ``day``, by the file's column names (``PDD_BILL_COLUMNS``; others
        become extra columns). Ints in the money columns are fen. ``发生时间`` defaults to the day at 10:00 plus a
        second per line, ``账务类型`` to 交易收入."""
        s = self.settlements
        with s.lock:
            rows = s.pdd_bills.setdefault((client_id, day), [])
            row = {name: _text(value, money=name in _PDD_MONEY) for name, value in fields.items()}
            row.setdefault(
                "发生时间", _stamp(datetime.combine(day, time(10, 0), _SHANGHAI) + timedelta(seconds=len(rows)))
            )
            row.setdefault("收入金额（+元）", "0.00")
            row.setdefault("支出金额（-元）", "0.00")
            row.setdefault("账务类型", "交易收入")
            rows.append(row)
            return dict(row)

    def open_pdd_bill(self, client_id: str, day: date) -> None:
        """Make a day's bill exist with no lines."""
        with self.settlements.lock:
            self.settlements.pdd_bills.setdefault((client_id, day), [])

    # ------------------------------------------------------------------ 微信小店

    def add_wechat_funds_flow(
        self,
        appid: str,
        *,
        amount: int,
        bookkeeping_time: datetime,
        flow_type: int = 1,
        funds_type: int = 1,
        order_id: str | None = None,
        aftersale_id: str | None = None,
        transaction_id: str | None = None,
        remark: str = "",
        related_info_list: list[dict[str, Any]] | None = None,
        flow_id: str | None = None,
        balance: int | None = None,
    ) -> dict[str, Any]:
        """One ``funds_flow`` (``/channels/ec/funds/getfundsflowdetail``): ``flow_type`` 1 收入 / 2 支出, ``amount``
        in fen, ``funds_type`` per the FundsType enum (1 订单支付收入, 2 订单手续费, 3 退款, 4 提现, …). The related
        order / after-sale go into ``related_info_list`` (related_type 1 订单, 2 售后) unless given whole."""
        s = self.settlements
        with s.lock:
            flows = s.wechat_funds_flows.setdefault(appid, [])
            if related_info_list is None:
                related_info_list = []
                if aftersale_id:
                    item: dict[str, Any] = {"related_type": 2, "aftersale_id": aftersale_id}
                    if transaction_id:
                        item["transaction_id"] = transaction_id
                    related_info_list.append(item)
                if order_id:
                    item = {"related_type": 1, "order_id": order_id}
                    if transaction_id:
                        item["transaction_id"] = transaction_id
                    related_info_list.append(item)
            if balance is None:
                before = int(flows[-1]["balance"]) if flows else 0
                balance = before + (amount if flow_type == 1 else -amount)
            flow = {
                "flow_id": flow_id or f"1000{s.next_seq():013d}",
                "funds_type": funds_type,
                "flow_type": flow_type,
                "amount": amount,
                "balance": balance,
                "related_info_list": related_info_list,
                "bookkeeping_time": _stamp(bookkeeping_time),
                "remark": remark,
            }
            flows.append({"_at": _aware(bookkeeping_time), "_seq": s.next_seq(), **flow})
            return dict(flow)

    def add_wechat_order_flow(self, appid: str, *, order_id: str, **fields: Any) -> dict[str, Any]:
        """One ``data_list`` item of ``/channels/ec/funds/listorderflow`` (per-order settlement), by the API's field
        names, amounts in fen: ``order_settle_state`` (1 待结算, 2 无需结算, 60 结算完成, 100 部分结算; default 60),
        ``buyer_paid_amount``, ``mch_received_amount``, ``expense_amount``, ``mch_settle_amount``,
        ``platform_commission_amount``, ``promoter_commission_amount``, ``freight_insurance_amount``,
        ``platform_discount_amount``, ``buyer_refund_amount``, ``refund_before_settlement``, ``mch_settle_time`` …"""
        s = self.settlements
        row: dict[str, Any] = {
            "order_id": order_id,
            "order_state": 100,
            "order_settle_state": 60,
            "order_create_time": 0,
            "order_paid_time": 0,
            "order_pay_method": 1,
            "order_type": 0,
            "mch_received_amount": 0,
            "expense_amount": 0,
            "mch_settle_amount": 0,
            "mch_settle_time": 0,
            "product_list": [],
            "product_total_amount": 0,
            "freight_amount": 0,
            "change_down_price": 0,
            "mch_discount_amount": 0,
            "score_discount_amount": 0,
            "buyer_paid_amount": 0,
            "promoter_discount_amount": 0,
            "platform_discount_amount": 0,
            "freight_make_up_amount": 0,
            "buyer_refund_amount": 0,
            "platform_discount_refund_amount": 0,
            "promoter_discount_refund_amount": 0,
            "original_platform_commission_amount": 0,
            "platform_commission_amount": 0,
            "freight_insurance_subsidy_amount": 0,
            "promoter_commission_amount": 0,
            "freight_insurance_amount": 0,
            "refund_before_settlement": 0,
            "other_expense_amount": 0,
        }
        for name, value in fields.items():
            row[name] = int(value.timestamp()) if isinstance(value, datetime) else value
        with s.lock:
            s.wechat_order_flows.setdefault(appid, []).append({"_seq": s.next_seq(), **row})
        return dict(row)

    # ------------------------------------------------------------------ Taobao/Tmall TOP fee bills

    def _top_app_key(self, app_key_or_session: str) -> str:
        """The Taobao seller's app key, given the app key itself or one of its sessions."""
        store: Any = self  # mixed into PlatformStore
        if store.find_seller("taobao", app_key_or_session) is not None:
            return app_key_or_session
        token = store.token("taobao", app_key_or_session)
        if token is None:
            raise KeyError(f"no Taobao seller or session {app_key_or_session!r}")
        return str(token.app_key)

    def top_seller_alipay_id(self, app_key_or_session: str) -> str:
        """The seller's Alipay account no. as fee bills show it (``alipay_id``): the user id of an Alipay app
        registered for the seller plus ``0156`` (as Alipay's own bills write it), else a made-up 2088… one."""
        app_key = self._top_app_key(app_key_or_session)
        s = self.settlements
        with s.lock:
            if app_key not in s.top_alipay_ids:
                app = next((a for a in s.alipay_apps.values() if a.seller_app_key == app_key), None)
                user_id = app.user_id if app else "2088" + f"{secrets.randbelow(10**12):012d}"
                s.top_alipay_ids[app_key] = user_id + "0156"
            return s.top_alipay_ids[app_key]

    def add_top_fee_account(
        self,
        *,
        account_id: int,
        account_code: str,
        account_name: str,
        account_type: int,
        related_order: int = 1,
        status: int = 1,
    ) -> dict[str, Any]:
        """Define (or redefine) a 费用科目 as ``taobao.bill.accounts.get`` returns it (``account_type`` 1 虚拟账户,
        2 交易, 3 交易佣金, 4 服务费, 5 天猫积分, 6 其他; ``related_order`` 1 when its bills are per order)."""
        s = self.settlements
        stamp = _stamp(s.now())
        with s.lock:
            row = {
                "account_id": account_id,
                "account_code": account_code,
                "account_name": account_name,
                "account_type": account_type,
                "related_order": related_order,
                "status": status,
                "gmt_create": s.top_accounts.get(account_id, {}).get("gmt_create", stamp),
                "gmt_modified": stamp,
            }
            s.top_accounts[account_id] = row
            return dict(row)

    def top_fee_accounts(self) -> list[dict[str, Any]]:
        with self.settlements.lock:
            return [dict(a) for a in self.settlements.top_accounts.values()]

    def add_top_fee_bill(
        self,
        app_key_or_session: str,
        *,
        amount: int,
        pay_time: datetime,
        account_id: int = TOP_COMMISSION_ACCOUNT_ID,
        trade_id: str | int = "",
        order_id: str | int = "",
        **fields: Any,
    ) -> dict[str, Any]:
        """One ``Bill`` of ``taobao.bill.bills.get`` (a fee the platform booked against the seller), by the API's
        field names (``TOP_BILL_FIELDS``); ``amount`` / ``total_amount`` in 分 — the doc: 账单金额，退款时返回的是负数,
        i.e. a fee charged is positive and a fee given back on a refund negative. ``pay_time`` is when Alipay took
        the fee (the default query time); ``biz_time`` (交易完成时间) and ``book_time`` default to it.

        Not given: ``bid`` (a fresh number), ``order_id`` = ``trade_id``, ``alipay_outno`` = ``T200P<trade_id>``
        (the Alipay 商户订单号 of a Taobao trade), ``alipay_notice`` = the account's name and the trade, ``status``
        1 (支付成功), ``alipay_id`` / ``alipay_mail`` the seller's Alipay, ``obj_alipay_id`` / ``obj_alipay_mail``
        Tmall's, ``gmt_create`` / ``gmt_modified`` = ``book_time``. Empty values are left out of answers."""
        s = self.settlements
        app_key = self._top_app_key(app_key_or_session)
        alipay_id = self.top_seller_alipay_id(app_key)
        times: dict[str, datetime] = {"pay_time": _aware(pay_time)}
        for name in ("biz_time", "book_time", "gmt_create", "gmt_modified"):
            value = fields.pop(name, None)
            times[name] = _aware(value) if isinstance(value, datetime) else times["pay_time"]
            if name.startswith("gmt") and not isinstance(value, datetime):
                times[name] = times["book_time"]
        with s.lock:
            account = s.top_accounts.get(account_id, {})
            tid = str(trade_id)
            row: dict[str, Any] = {
                "bid": fields.pop("bid", None) or 60_000_000_000 + s.next_seq(),
                "account_id": account_id,
                "trade_id": tid,
                "order_id": str(order_id) if order_id != "" else tid,
                "amount": amount,
                "book_time": _stamp(times["book_time"]),
                "biz_time": _stamp(times["biz_time"]),
                "pay_time": _stamp(times["pay_time"]),
                "alipay_mail": f"{app_key[-6:]}@shop.example.com",
                "obj_alipay_mail": "tmall_fee@alipay.example.com",
                "obj_alipay_id": TMALL_FEE_ALIPAY_ID,
                "alipay_outno": f"T200P{tid}" if tid else "",
                "alipay_notice": f"{account.get('account_name', '费用')}{'（' + tid + '）' if tid else ''}",
                "status": 1,
                "gmt_create": _stamp(times["gmt_create"]),
                "gmt_modified": _stamp(times["gmt_modified"]),
                "num_iid": "",
                "alipay_id": alipay_id,
            }
            for name, value in fields.items():
                if name not in TOP_BILL_FIELDS:
                    raise ValueError(f"{name!r} is not a field of TOP's Bill ({', '.join(TOP_BILL_FIELDS)})")
                row[name] = _stamp(value) if isinstance(value, datetime) else value
            stored = {"_pay": times["pay_time"], "_biz": times["biz_time"], **row}
            s.top_fee_bills.setdefault(app_key, []).append(stored)
            return dict(row)

    def add_top_book_bill(
        self,
        app_key_or_session: str,
        *,
        account_id: int,
        journal_type: int,
        amount: int,
        book_time: datetime,
        description: str = "",
        **fields: Any,
    ) -> dict[str, Any]:
        """One ``BookBill`` of ``taobao.bill.book.bills.get`` (a movement on a virtual account, e.g. the deposit):
        ``journal_type`` 101 可用金充值 … 106 冻结金扣除, ``amount`` in 分."""
        s = self.settlements
        app_key = self._top_app_key(app_key_or_session)
        alipay_id = self.top_seller_alipay_id(app_key)
        at = _aware(book_time)
        with s.lock:
            row: dict[str, Any] = {
                "bid": fields.pop("bid", None) or 70_000_000_000 + s.next_seq(),
                "account_id": account_id,
                "journal_type": journal_type,
                "amount": amount,
                "book_time": _stamp(at),
                "description": description,
                "gmt_create": _stamp(at),
                "gmt_modified": _stamp(at),
                "taobao_alipay_id": TMALL_FEE_ALIPAY_ID,
                "other_alipay_id": alipay_id,
            }
            for name, value in fields.items():
                if name not in TOP_BOOK_BILL_FIELDS:
                    raise ValueError(f"{name!r} is not a field of TOP's BookBill")
                row[name] = _stamp(value) if isinstance(value, datetime) else value
            s.top_book_bills.setdefault(app_key, []).append({"_at": at, **row})
            return dict(row)

    def top_fee_bills(self, app_key_or_session: str) -> list[dict[str, Any]]:
        """The seller's fee bills as stored (with the private ``_pay`` / ``_biz`` query times)."""
        app_key = self._top_app_key(app_key_or_session)
        with self.settlements.lock:
            return [dict(b) for b in self.settlements.top_fee_bills.get(app_key, [])]

    def top_book_bills(self, app_key_or_session: str) -> list[dict[str, Any]]:
        app_key = self._top_app_key(app_key_or_session)
        with self.settlements.lock:
            return [dict(b) for b in self.settlements.top_book_bills.get(app_key, [])]
