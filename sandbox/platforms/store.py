"""The in-memory world the platform simulators share: seller accounts and their tokens, a small catalogue, orders,
what the hub wrote back (shipments, stock), fault knobs and a request log.

Orders are kept platform-neutral (:class:`SimOrder`, money in integer fen, aware Asia/Shanghai datetimes); each
platform module renders them in its own wire shape. Every method is thread-safe: the server runs on its own thread
and event loop while a test drives the store from the main thread.

Typical test use::

    acct = store.create_seller("taobao")
    order = store.add_order("taobao", acct.app_key, lines=[("TEE-WHT-M", 2)])
    store.expire_token("taobao", acct.access_token)
    store.inject_rate_limit("taobao", 2)
    ... drive the hub ...
    assert store.shipments("taobao")[0].tracking_no == "SF1234567890"

Settlement data (bills, settled orders, funds flows) is seeded with the methods of
:class:`sandbox.platforms.settlements.SettlementSeeding` (``store.add_alipay_bill_row`` …) and held in
``store.settlements``.
"""

from __future__ import annotations

import random
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Literal
from zoneinfo import ZoneInfo

from sandbox.orders import make_order, price_for
from sandbox.platforms.settlements import SettlementData, SettlementSeeding

__all__ = [
    "SHANGHAI",
    "AccessToken",
    "Fault",
    "OrderLine",
    "OrderState",
    "Platform",
    "PlatformStore",
    "Product",
    "Receiver",
    "RefundState",
    "RequestRecord",
    "SellerAccount",
    "ShipOutcome",
    "Shipment",
    "SimOrder",
    "StockMode",
    "StockUpdate",
    "iter_window",
]

SHANGHAI = ZoneInfo("Asia/Shanghai")


class Platform(StrEnum):
    TAOBAO = "taobao"
    DOUYIN = "douyin"
    PINDUODUO = "pinduoduo"
    JD = "jd"
    WECHAT_SHOP = "wechat_shop"


PlatformLike = Platform | str


class OrderState(StrEnum):
    """Where an order stands, whatever the platform calls it."""

    PENDING_PAYMENT = "pending_payment"
    PAID = "paid"  # waiting for the seller to ship
    SHIPPED = "shipped"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


class RefundState(StrEnum):
    NONE = "none"
    REQUESTED = "requested"
    REFUNDED = "refunded"


StockMode = Literal["full", "incremental"]


class ShipOutcome(StrEnum):
    SHIPPED = "shipped"
    RESENT = "resent"  # the same shipment again, accepted because ``store.reship_succeeds`` is on
    ALREADY_SHIPPED = "already_shipped"
    NOT_SHIPPABLE = "not_shippable"  # unpaid, cancelled or finished
    NOT_FOUND = "not_found"


@dataclass
class AccessToken:
    platform: Platform
    app_key: str
    token: str
    expires_at: datetime
    refresh_token: str
    refresh_expires_at: datetime
    refresh_used: bool = False

    def expired(self, now: datetime) -> bool:
        return now >= self.expires_at


@dataclass
class SellerAccount:
    """One authorised shop. For WeChat Shop ``app_key`` is the appid and ``app_secret`` the AppSecret."""

    platform: Platform
    app_key: str
    app_secret: str
    shop_id: str
    shop_name: str
    seller_nick: str
    access_token: str  # the latest token issued
    refresh_token: str
    token_expires_at: datetime


@dataclass
class Product:
    platform: Platform
    app_key: str
    sku_code: str  # the seller's own code (outer_sku_id / out_sku_id / outerSkuId / sku_code)
    title: str
    price: int  # fen
    product_id: str  # num_iid / product_id / goods_id / wareId / product_id
    sku_id: str
    stock: int


@dataclass
class OrderLine:
    line_id: str  # the platform's sub-order id (oid, sku order id, …)
    sku_code: str
    title: str
    qty: int
    unit_price: int  # fen
    product_id: str
    sku_id: str

    @property
    def amount(self) -> int:
        return self.qty * self.unit_price


@dataclass
class Receiver:
    name: str
    mobile: str
    province: str
    city: str
    district: str
    detail: str
    town: str = ""  # 街道 / 乡镇, often empty


@dataclass
class SimOrder:
    platform: Platform
    app_key: str
    order_id: str
    state: OrderState
    created_at: datetime
    paid_at: datetime | None
    updated_at: datetime
    receiver: Receiver
    lines: list[OrderLine]
    shipping_fee: int = 0  # fen
    discount: int = 0  # fen, seller + platform discounts together
    buyer_nick: str = ""
    buyer_memo: str = ""
    seller_memo: str = ""
    refund: RefundState = RefundState.NONE
    shipped_at: datetime | None = None
    company_code: str = ""
    tracking_no: str = ""
    cancel_reason: str = ""
    buyer_open_id: str = ""

    @property
    def goods_amount(self) -> int:
        return sum(line.amount for line in self.lines)

    @property
    def paid_amount(self) -> int:
        return max(0, self.goods_amount + self.shipping_fee - self.discount)

    def line_payments(self) -> list[int]:
        """What the buyer paid per line (fen): the discount spread over lines in proportion, remainder on the last."""
        goods = self.goods_amount
        discount = min(self.discount, goods)
        shares: list[int] = []
        left = discount
        for index, line in enumerate(self.lines):
            cut = left if index == len(self.lines) - 1 else (discount * line.amount // goods if goods else 0)
            left -= cut
            shares.append(line.amount - cut)
        return shares


@dataclass(frozen=True)
class Shipment:
    platform: Platform
    app_key: str
    order_id: str
    company_code: str
    tracking_no: str
    at: datetime
    method: str
    outcome: ShipOutcome
    params: Mapping[str, Any]


@dataclass(frozen=True)
class StockUpdate:
    platform: Platform
    app_key: str
    product_id: str
    sku_id: str
    sku_code: str
    quantity: int  # as sent
    mode: StockMode
    stock_after: int
    at: datetime
    method: str
    params: Mapping[str, Any]


@dataclass(frozen=True)
class RequestRecord:
    platform: Platform
    method: str  # the platform's API name, or the path for WeChat Shop
    app_key: str
    at: datetime
    params: Mapping[str, Any]
    outcome: str  # "ok" or the platform's error code (and sub code)
    http_status: int = 200


@dataclass
class Fault:
    kind: Literal["rate_limit", "error", "http"]
    method: str | None = None  # None: any method
    http_status: int = 502


@dataclass
class _Faults:
    queue: deque[Fault] = field(default_factory=deque)
    qps_limit: int | None = None
    recent: dict[str, deque[float]] = field(default_factory=dict)


# Stable demo catalogue when a seller has no products yet: code → (title, price in fen).
DEMO_SKUS: dict[str, tuple[str, int]] = {
    "TEE-WHT-M": ("纯棉短袖T恤 白色 M", 5900),
    "TEE-BLK-L": ("纯棉短袖T恤 黑色 L", 5900),
    "MUG-350": ("陶瓷马克杯 350ml", 2990),
    "SOCK-3P": ("中筒棉袜 三双装", 1990),
    "CAP-NAVY": ("棒球帽 藏青", 3990),
    "TEA-LJ-250": ("明前龙井 250g", 15900),
}

# How each platform spells its ids: (order id, sub-order id, product id, sku id).
_ID_STYLE: dict[Platform, tuple[str, str, str, str]] = {
    Platform.TAOBAO: ("tb19", "tb19", "n12", "n13"),
    Platform.DOUYIN: ("dy69", "dy69", "n19", "n13"),
    Platform.PINDUODUO: ("pdd", "n12", "n11", "n12"),
    Platform.JD: ("n12", "n12", "n11", "n11"),
    Platform.WECHAT_SHOP: ("n19", "n19", "n11", "n10"),
}


_TOKEN_TTL: dict[Platform, timedelta] = {
    Platform.TAOBAO: timedelta(days=1),
    Platform.DOUYIN: timedelta(days=7),
    Platform.PINDUODUO: timedelta(days=1),
    Platform.JD: timedelta(days=1),
    Platform.WECHAT_SHOP: timedelta(hours=2),
}


def _platform(value: PlatformLike) -> Platform:
    return value if isinstance(value, Platform) else Platform(value)


class UnknownSeller(KeyError):
    pass


class PlatformStore(SettlementSeeding):
    """Everything the simulated platforms know. Create one per test session (or per test) and pass it to the app.

    Knobs (plain attributes):

    - ``check_timestamps``: reject requests whose timestamp is off by more than the platform allows (default on;
      turn off when the test freezes the store's clock far from real time).
    - ``reship_succeeds``: re-sending the same shipment (same company and tracking number) answers success instead
      of the platform's "already shipped" error (default off, which is what the real platforms do).
    """

    def __init__(self, *, seed: int | None = None, clock: Callable[[], datetime] | None = None) -> None:
        self._lock = threading.RLock()
        self._rng = random.Random(seed)
        self._clock = clock
        self.check_timestamps = True
        self.reship_succeeds = False
        self._accounts: dict[tuple[Platform, str], SellerAccount] = {}
        self._tokens: dict[tuple[Platform, str], AccessToken] = {}
        self._refresh: dict[tuple[Platform, str], AccessToken] = {}
        self._auth_codes: dict[tuple[Platform, str], tuple[str, datetime]] = {}
        self._products: dict[tuple[Platform, str], list[Product]] = {}
        self._orders: dict[tuple[Platform, str], SimOrder] = {}
        self._used_ids: set[str] = set()
        self._shipments: list[Shipment] = []
        self._stock: list[StockUpdate] = []
        self._log: list[RequestRecord] = []
        self._after_call: list[tuple[Platform, str, Callable[[], None]]] = []
        self._faults: dict[Platform, _Faults] = {p: _Faults() for p in Platform}
        self.settlements = SettlementData(now=self.now)  # settlement bills and flows (sandbox/platforms/settlements.py)

    # ------------------------------------------------------------------ clock

    def now(self) -> datetime:
        """The simulated platforms' clock (aware, Asia/Shanghai)."""
        value = self._clock() if self._clock is not None else datetime.now(SHANGHAI)
        if value.tzinfo is None:
            value = value.replace(tzinfo=SHANGHAI)
        return value.astimezone(SHANGHAI)

    def set_clock(self, clock: Callable[[], datetime] | None) -> None:
        """Replace the clock (``None``: real time). Token expiry and timestamp checks follow it."""
        with self._lock:
            self._clock = clock

    # --------------------------------------------------------------- accounts

    def create_seller(
        self,
        platform: PlatformLike,
        *,
        shop_name: str | None = None,
        app_key: str | None = None,
        app_secret: str | None = None,
        token_ttl: timedelta | None = None,
        refresh_ttl: timedelta = timedelta(days=14),
    ) -> SellerAccount:
        """A new authorised shop with keys in the platform's style and one fresh access token (valid for
        ``token_ttl``; by default as long as the platform's own: 2 h on WeChat Shop, 7 days on 抖店, 1 day
        elsewhere)."""
        p = _platform(platform)
        with self._lock:
            key = app_key or self._app_key(p)
            secret = app_secret or self._secret(p)
            shop_id = str(self._rng.randrange(10**7, 10**8))
            brand = self._rng.choice(["山海", "拾光", "木子", "青禾", "知味", "小满"])
            name = shop_name or f"{brand}{shop_id[-3:]}旗舰店"
            account = SellerAccount(
                platform=p,
                app_key=key,
                app_secret=secret,
                shop_id=shop_id,
                shop_name=name,
                seller_nick=name.removesuffix("旗舰店") + "官方",
                access_token="",
                refresh_token="",
                token_expires_at=self.now(),
            )
            self._accounts[(p, key)] = account
            self.issue_token(p, key, ttl=token_ttl or _TOKEN_TTL[p], refresh_ttl=refresh_ttl)
            return account

    def seller(self, platform: PlatformLike, app_key: str) -> SellerAccount:
        account = self.find_seller(platform, app_key)
        if account is None:
            raise UnknownSeller(f"no {platform} seller with app key {app_key!r}")
        return account

    def find_seller(self, platform: PlatformLike, app_key: str) -> SellerAccount | None:
        with self._lock:
            return self._accounts.get((_platform(platform), app_key))

    def sellers(self, platform: PlatformLike | None = None) -> list[SellerAccount]:
        with self._lock:
            return [a for (p, _), a in self._accounts.items() if platform is None or p == _platform(platform)]

    def issue_token(
        self,
        platform: PlatformLike,
        app_key: str,
        *,
        ttl: timedelta = timedelta(days=1),
        refresh_ttl: timedelta = timedelta(days=14),
    ) -> AccessToken:
        """A new access token (and refresh token) for the shop; older tokens stay valid until they expire."""
        p = _platform(platform)
        with self._lock:
            account = self.seller(p, app_key)
            now = self.now()
            token = AccessToken(
                platform=p,
                app_key=app_key,
                token=self._token_value(p),
                expires_at=now + ttl,
                refresh_token=self._token_value(p, refresh=True),
                refresh_expires_at=now + refresh_ttl,
            )
            self._tokens[(p, token.token)] = token
            self._refresh[(p, token.refresh_token)] = token
            account.access_token = token.token
            account.refresh_token = token.refresh_token
            account.token_expires_at = token.expires_at
            return token

    def token(self, platform: PlatformLike, value: str) -> AccessToken | None:
        with self._lock:
            return self._tokens.get((_platform(platform), value))

    def expire_token(self, platform: PlatformLike, token_or_app_key: str) -> None:
        """Make one access token (or every token of an app key) expired as of now."""
        p = _platform(platform)
        with self._lock:
            past = self.now() - timedelta(seconds=1)
            hit = False
            for (tp, value), token in self._tokens.items():
                if tp == p and token_or_app_key in (value, token.app_key):
                    token.expires_at = past
                    hit = True
            if not hit:
                raise KeyError(f"no {p} token or app key {token_or_app_key!r}")
            for account in self._accounts.values():
                if account.platform == p and token_or_app_key in (account.access_token, account.app_key):
                    account.token_expires_at = past

    def cap_token_expiry(self, platform: PlatformLike, app_key: str, until: datetime) -> None:
        """Make every token of the app expire no later than ``until`` (a newer token replaces them)."""
        p = _platform(platform)
        with self._lock:
            for (tp, _), token in self._tokens.items():
                if tp == p and token.app_key == app_key and token.expires_at > until:
                    token.expires_at = until

    def expire_refresh_token(self, platform: PlatformLike, refresh_token: str) -> None:
        with self._lock:
            self._refresh[(_platform(platform), refresh_token)].refresh_expires_at = self.now() - timedelta(seconds=1)

    def refresh_access_token(
        self, platform: PlatformLike, app_key: str, refresh_token: str, *, ttl: timedelta = timedelta(days=1)
    ) -> AccessToken | Literal["expired", "invalid"]:
        """Swap a refresh token (single use) for a new token pair."""
        p = _platform(platform)
        with self._lock:
            old = self._refresh.get((p, refresh_token))
            if old is None or old.app_key != app_key or old.refresh_used:
                return "invalid"
            if self.now() >= old.refresh_expires_at:
                return "expired"
            old.refresh_used = True
            return self.issue_token(p, app_key, ttl=ttl, refresh_ttl=old.refresh_expires_at - self.now())

    def issue_auth_code(self, platform: PlatformLike, app_key: str, *, ttl: timedelta = timedelta(minutes=10)) -> str:
        """An OAuth ``code`` the shop owner would hand over after authorising the app."""
        p = _platform(platform)
        with self._lock:
            self.seller(p, app_key)
            code = secrets.token_hex(16)
            self._auth_codes[(p, code)] = (app_key, self.now() + ttl)
            return code

    def redeem_auth_code(
        self, platform: PlatformLike, app_key: str, code: str
    ) -> AccessToken | Literal["expired", "invalid"]:
        p = _platform(platform)
        with self._lock:
            entry = self._auth_codes.pop((p, code), None)
            if entry is None or entry[0] != app_key:
                return "invalid"
            if self.now() >= entry[1]:
                return "expired"
            return self.issue_token(p, app_key)

    # -------------------------------------------------------------- catalogue

    def add_product(
        self,
        platform: PlatformLike,
        app_key: str,
        sku_code: str,
        *,
        title: str | None = None,
        price: int | None = None,
        stock: int = 100,
        product_id: str | None = None,
    ) -> Product:
        """A listed SKU. Several SKUs can share one ``product_id`` (pass it)."""
        p = _platform(platform)
        with self._lock:
            self.seller(p, app_key)
            existing = self.product_by_code(p, app_key, sku_code)
            if existing is not None:
                return existing
            demo_title, demo_price = DEMO_SKUS.get(sku_code, (f"商品 {sku_code}", price_for(sku_code)))
            style = _ID_STYLE[p]
            product = Product(
                platform=p,
                app_key=app_key,
                sku_code=sku_code,
                title=title or demo_title,
                price=demo_price if price is None else price,
                product_id=product_id or self._new_id(style[2]),
                sku_id=self._new_id(style[3]),
                stock=stock,
            )
            self._products.setdefault((p, app_key), []).append(product)
            return product

    def products(self, platform: PlatformLike, app_key: str) -> list[Product]:
        with self._lock:
            return list(self._products.get((_platform(platform), app_key), []))

    def product_by_code(self, platform: PlatformLike, app_key: str, sku_code: str) -> Product | None:
        with self._lock:
            for product in self._products.get((_platform(platform), app_key), []):
                if product.sku_code == sku_code:
                    return product
            return None

    def find_product(
        self, platform: PlatformLike, app_key: str, *, product_id: str | None = None, sku_id: str | None = None
    ) -> Product | None:
        """Look a SKU up by platform ids; with only ``product_id`` the product's first SKU answers."""
        with self._lock:
            for product in self._products.get((_platform(platform), app_key), []):
                if product_id is not None and product.product_id != product_id:
                    continue
                if sku_id is not None and product.sku_id != sku_id:
                    continue
                if product_id is None and sku_id is None:
                    continue
                return product
            return None

    # ----------------------------------------------------------------- orders

    def add_order(
        self,
        platform: PlatformLike,
        app_key: str,
        *,
        lines: Sequence[tuple[str, int] | tuple[str, int, int]] | None = None,
        state: OrderState = OrderState.PAID,
        order_id: str | None = None,
        created_at: datetime | None = None,
        paid_at: datetime | None = None,
        updated_at: datetime | None = None,
        receiver: Receiver | None = None,
        shipping_fee: int | None = None,
        discount: int | None = None,
        buyer_nick: str | None = None,
        buyer_memo: str | None = None,
        seller_memo: str | None = None,
        refund: RefundState = RefundState.NONE,
    ) -> SimOrder:
        """A new order for the shop. Anything not given is made up realistically (seeded by the store).

        ``lines``: ``(sku_code, qty)`` or ``(sku_code, qty, unit_price_fen)``; unknown SKU codes are listed on the
        fly, and with explicit lines shipping fee and discount default to 0 (so amounts are predictable).
        ``updated_at`` defaults to the paid time (or creation time when unpaid).
        """
        p = _platform(platform)
        with self._lock:
            self.seller(p, app_key)
            now = self.now()
            codes = [prod.sku_code for prod in self.products(p, app_key)] or list(DEMO_SKUS)
            prices = {code: DEMO_SKUS[code][1] for code in codes if code in DEMO_SKUS}
            base = make_order(
                self._rng,
                external_id="-",
                skus=codes,
                now=paid_at or now,
                prices=prices,
                max_lines=3,
                address_form="split",
            )
            created = created_at or datetime.fromisoformat(base["created_at"]).astimezone(SHANGHAI)
            paid: datetime | None = None
            if state != OrderState.PENDING_PAYMENT:
                paid = paid_at or datetime.fromisoformat(base["paid_at"]).astimezone(SHANGHAI)
                paid = max(paid, created)
            spec: list[tuple[str, int, int | None]] = []
            if lines is None:
                spec = [(line["sku"], int(line["qty"]), int(line["unit_price"])) for line in base["lines"]]
            else:
                for item in lines:
                    spec.append((item[0], item[1], item[2] if len(item) > 2 else None))
            style = _ID_STYLE[p]
            built: list[OrderLine] = []
            for code, qty, unit in spec:
                product = self.add_product(p, app_key, code, price=unit)
                built.append(
                    OrderLine(
                        line_id=self._new_id(style[1]),
                        sku_code=code,
                        title=product.title,
                        qty=qty,
                        unit_price=product.price if unit is None else unit,
                        product_id=product.product_id,
                        sku_id=product.sku_id,
                    )
                )
            r = base["receiver"]
            order = SimOrder(
                platform=p,
                app_key=app_key,
                order_id=order_id or self._new_id(style[0]),
                state=state,
                created_at=created,
                paid_at=paid,
                updated_at=updated_at or paid or created,
                receiver=receiver
                or Receiver(
                    name=r["name"],
                    mobile=r["phone"],
                    province=r["province"],
                    city=r["city"],
                    district=r["district"],
                    detail=r["detail"],
                ),
                lines=built,
                shipping_fee=(base["shipping_fee"] if lines is None else 0) if shipping_fee is None else shipping_fee,
                discount=(base["discount"] if lines is None else 0) if discount is None else discount,
                buyer_nick=buyer_nick if buyer_nick is not None else base["buyer"]["nick"],
                buyer_memo=buyer_memo if buyer_memo is not None else base.get("buyer_memo", ""),
                seller_memo=seller_memo if seller_memo is not None else base.get("seller_memo", ""),
                refund=refund,
                buyer_open_id=f"o{self._rng.getrandbits(104):026x}",
            )
            key = (p, order.order_id)
            if key in self._orders:
                raise ValueError(f"{p} order {order.order_id} exists already")
            self._orders[key] = order
            return order

    def add_orders(
        self,
        platform: PlatformLike,
        app_key: str,
        count: int,
        *,
        start: datetime | None = None,
        every: timedelta = timedelta(seconds=30),
        state: OrderState = OrderState.PAID,
    ) -> list[SimOrder]:
        """``count`` random orders paid (and last updated) at ``start``, ``start + every``, …"""
        first = start or self.now() - every * count
        return [
            self.add_order(platform, app_key, state=state, paid_at=first + every * i, updated_at=first + every * i)
            for i in range(count)
        ]

    def update_order(
        self, platform: PlatformLike, order_id: str, *, updated_at: datetime | None = None, **changes: Any
    ) -> SimOrder:
        """Change fields of an order (``state=OrderState.CANCELLED``, ``receiver=…``, ``seller_memo=…``) and move
        its ``updated_at`` (default: now), the way a buyer or the platform would."""
        with self._lock:
            order = self.order(platform, order_id)
            for name, value in changes.items():
                if not hasattr(order, name):
                    raise AttributeError(f"SimOrder has no field {name!r}")
                setattr(order, name, value)
            if changes.get("state") == OrderState.PAID and order.paid_at is None:
                order.paid_at = updated_at or self.now()
            order.updated_at = updated_at or self.now()
            return order

    def order(self, platform: PlatformLike, order_id: str) -> SimOrder:
        with self._lock:
            return self._orders[(_platform(platform), order_id)]

    def find_order(self, platform: PlatformLike, app_key: str, order_id: str) -> SimOrder | None:
        with self._lock:
            order = self._orders.get((_platform(platform), order_id))
            return order if order is not None and order.app_key == app_key else None

    def orders(self, platform: PlatformLike, app_key: str | None = None) -> list[SimOrder]:
        with self._lock:
            p = _platform(platform)
            return [o for (op, _), o in self._orders.items() if op == p and (app_key is None or o.app_key == app_key)]

    # --------------------------------------------------- what the hub wrote back

    def ship(
        self,
        platform: PlatformLike,
        app_key: str,
        order_id: str,
        *,
        company_code: str,
        tracking_no: str,
        method: str,
        params: Mapping[str, Any],
    ) -> ShipOutcome:
        """Apply a ship write-back (called by the platform handlers). Every attempt is recorded."""
        p = _platform(platform)
        with self._lock:
            order = self.find_order(p, app_key, order_id)
            now = self.now()
            if order is None:
                outcome = ShipOutcome.NOT_FOUND
            elif order.state == OrderState.PAID:
                outcome = ShipOutcome.SHIPPED
                order.state = OrderState.SHIPPED
                order.shipped_at = now
                order.company_code = company_code
                order.tracking_no = tracking_no
                order.updated_at = now
            elif order.state == OrderState.SHIPPED:
                same = order.company_code == company_code and order.tracking_no == tracking_no
                outcome = ShipOutcome.RESENT if same and self.reship_succeeds else ShipOutcome.ALREADY_SHIPPED
            else:
                outcome = ShipOutcome.NOT_SHIPPABLE
            self._shipments.append(
                Shipment(p, app_key, order_id, company_code, tracking_no, now, method, outcome, dict(params))
            )
            return outcome

    def shipments(self, platform: PlatformLike | None = None, *, accepted_only: bool = True) -> list[Shipment]:
        """Ship write-backs received (by default only those the platform accepted)."""
        ok = {ShipOutcome.SHIPPED, ShipOutcome.RESENT}
        with self._lock:
            return [
                s
                for s in self._shipments
                if (platform is None or s.platform == _platform(platform)) and (not accepted_only or s.outcome in ok)
            ]

    def update_stock(
        self,
        platform: PlatformLike,
        app_key: str,
        product: Product,
        quantity: int,
        *,
        mode: StockMode,
        method: str,
        params: Mapping[str, Any],
    ) -> StockUpdate | None:
        """Apply a stock push (called by the platform handlers). ``None`` when it would go below zero."""
        p = _platform(platform)
        with self._lock:
            after = quantity if mode == "full" else product.stock + quantity
            if after < 0:
                return None
            product.stock = after
            update = StockUpdate(
                p,
                app_key,
                product.product_id,
                product.sku_id,
                product.sku_code,
                quantity,
                mode,
                after,
                self.now(),
                method,
                dict(params),
            )
            self._stock.append(update)
            return update

    def stock_updates(self, platform: PlatformLike | None = None) -> list[StockUpdate]:
        with self._lock:
            return [u for u in self._stock if platform is None or u.platform == _platform(platform)]

    # ------------------------------------------------------------------ faults

    def inject_rate_limit(self, platform: PlatformLike, count: int = 1, *, method: str | None = None) -> None:
        """The next ``count`` authenticated calls (of ``method``, or any) answer the platform's rate-limit error."""
        self._inject(platform, count, Fault("rate_limit", method))

    def inject_error(self, platform: PlatformLike, count: int = 1, *, method: str | None = None) -> None:
        """The next ``count`` authenticated calls answer the platform's transient service error."""
        self._inject(platform, count, Fault("error", method))

    def inject_http_error(
        self, platform: PlatformLike, count: int = 1, *, status: int = 502, method: str | None = None
    ) -> None:
        """The next ``count`` calls get a bare gateway error page with this HTTP status (before any checks)."""
        self._inject(platform, count, Fault("http", method, status))

    def set_qps_limit(self, platform: PlatformLike, limit: int | None) -> None:
        """Allow at most ``limit`` calls per app key per rolling second (``None``: unlimited)."""
        with self._lock:
            self._faults[_platform(platform)].qps_limit = limit

    def take_fault(self, platform: PlatformLike, method: str, *, http: bool = False) -> Fault | None:
        """Consume the first queued fault matching this call (``http=True``: only gateway errors)."""
        with self._lock:
            faults = self._faults[_platform(platform)]
            for fault in list(faults.queue):
                if (fault.kind == "http") != http:
                    continue
                if fault.method is not None and fault.method != method:
                    continue
                faults.queue.remove(fault)
                return fault
            return None

    def over_qps(self, platform: PlatformLike, app_key: str) -> bool:
        """Count this call against the QPS limit; ``True`` when it should be refused."""
        with self._lock:
            faults = self._faults[_platform(platform)]
            if faults.qps_limit is None:
                return False
            now = time.monotonic()
            window = faults.recent.setdefault(app_key, deque())
            while window and now - window[0] >= 1.0:
                window.popleft()
            if len(window) >= faults.qps_limit:
                return True
            window.append(now)
            return False

    def pending_faults(self, platform: PlatformLike) -> int:
        with self._lock:
            return len(self._faults[_platform(platform)].queue)

    def clear_faults(self, platform: PlatformLike | None = None) -> None:
        with self._lock:
            for p in [_platform(platform)] if platform is not None else list(Platform):
                self._faults[p] = _Faults()

    def _inject(self, platform: PlatformLike, count: int, fault: Fault) -> None:
        with self._lock:
            queue = self._faults[_platform(platform)].queue
            for _ in range(count):
                queue.append(Fault(fault.kind, fault.method, fault.http_status))

    # ------------------------------------------------------------- request log

    def log_request(
        self,
        platform: PlatformLike,
        method: str,
        app_key: str,
        params: Mapping[str, Any],
        outcome: str,
        http_status: int = 200,
    ) -> None:
        p = _platform(platform)
        with self._lock:
            self._log.append(RequestRecord(p, method, app_key, self.now(), dict(params), outcome, http_status))
            due = [hook for hook in self._after_call if hook[:2] == (p, method)]
            self._after_call = [hook for hook in self._after_call if hook[:2] != (p, method)]
        for _, _, action in due:
            action()

    def after_next_call(self, platform: PlatformLike, method: str, action: Callable[[], None]) -> None:
        """Run ``action`` once, when the next call of ``method`` has been answered (before the caller reads the
        answer): a buyer changing an order between two pages of a pull, say."""
        with self._lock:
            self._after_call.append((_platform(platform), method, action))

    def requests(self, platform: PlatformLike | None = None, *, method: str | None = None) -> list[RequestRecord]:
        with self._lock:
            return [
                r
                for r in self._log
                if (platform is None or r.platform == _platform(platform)) and (method is None or r.method == method)
            ]

    def clear_requests(self) -> None:
        with self._lock:
            self._log.clear()

    # -------------------------------------------------------------- id helpers

    def _new_id(self, style: str) -> str:
        while True:
            rng = self._rng
            if style == "tb19":
                value = str(rng.randrange(10**18, 4 * 10**18))
            elif style == "dy69":
                value = "69" + f"{rng.randrange(10**17):017d}"
            elif style == "pdd":
                value = f"{self.now():%y%m%d}-{rng.randrange(10**14, 10**15)}"
            else:
                digits = int(style[1:])
                value = str(rng.randrange(10 ** (digits - 1), 10**digits))
            if value not in self._used_ids:
                self._used_ids.add(value)
                return value

    def _app_key(self, platform: Platform) -> str:
        rng = self._rng
        if platform == Platform.TAOBAO:
            return str(rng.randrange(10**7, 10**8))  # TOP app keys: 8 digits
        if platform == Platform.DOUYIN:
            return str(rng.randrange(10**18, 10**19))  # 19 digits
        if platform == Platform.PINDUODUO:
            return f"{rng.getrandbits(128):032x}"  # client_id
        if platform == Platform.JD:
            return f"{rng.getrandbits(128):032X}"
        return "wx" + f"{rng.getrandbits(64):016x}"  # appid

    def _secret(self, platform: Platform) -> str:
        if platform == Platform.PINDUODUO:
            return secrets.token_hex(20)
        return secrets.token_hex(16)

    def _token_value(self, platform: Platform, *, refresh: bool = False) -> str:
        if platform == Platform.TAOBAO:
            return ("7" if refresh else "6") + secrets.token_hex(26)  # TOP sessions are long hex strings
        if platform == Platform.WECHAT_SHOP:
            return secrets.token_urlsafe(96)[:136]
        if platform == Platform.JD:
            return secrets.token_hex(16)
        return secrets.token_hex(20) if platform == Platform.PINDUODUO else secrets.token_hex(18)


def iter_window(orders: Iterable[SimOrder], start: datetime, end: datetime) -> list[SimOrder]:
    """Orders last updated within ``[start, end]`` (both ends inclusive)."""
    return [o for o in orders if start <= o.updated_at <= end]
