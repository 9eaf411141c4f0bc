"""Realistic demo orders in the generic ingest contract (``UnifiedOrder``), and request signing.

Shared by the demo shop, the benchmarks and the tests. Independent of ``orderhub`` on purpose: it speaks the
wire contract only, the way an outside store or ERP would.

Money is integer fen; times are ISO 8601 with ``+08:00``. Everything random comes from the ``random.Random``
you pass, so a seeded generator gives the same orders every run.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import random
import time
import zlib
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any, Literal

__all__ = [
    "BEIJING",
    "REMOTE_PROVINCES",
    "ingest_body",
    "make_order",
    "price_for",
    "sign",
]

BEIJING = timezone(timedelta(hours=8), "CST")

# Provinces where couriers charge extra; shops usually do not offer free shipping there.
REMOTE_PROVINCES = frozenset(
    {"新疆维吾尔自治区", "西藏自治区", "青海省", "内蒙古自治区", "宁夏回族自治区", "甘肃省", "海南省"}
)

# province → [(city, [districts / counties])]; 直辖市 repeat the province as the city, as platforms send them.
_REGIONS: dict[str, list[tuple[str, list[str]]]] = {
    "北京市": [("北京市", ["朝阳区", "海淀区", "丰台区", "东城区", "西城区", "通州区", "昌平区", "大兴区"])],
    "天津市": [("天津市", ["和平区", "南开区", "河西区", "滨海新区", "西青区"])],
    "上海市": [("上海市", ["浦东新区", "徐汇区", "闵行区", "静安区", "杨浦区", "宝山区", "松江区", "嘉定区"])],
    "重庆市": [("重庆市", ["渝中区", "江北区", "渝北区", "沙坪坝区", "九龙坡区", "南岸区"])],
    "河北省": [
        ("石家庄市", ["长安区", "桥西区", "裕华区"]),
        ("保定市", ["竞秀区", "莲池区"]),
        ("廊坊市", ["广阳区", "三河市"]),
    ],
    "山西省": [("太原市", ["小店区", "迎泽区", "万柏林区"]), ("大同市", ["平城区"])],
    "内蒙古自治区": [("呼和浩特市", ["赛罕区", "新城区", "回民区"]), ("包头市", ["昆都仑区", "青山区"])],
    "辽宁省": [("沈阳市", ["和平区", "沈河区", "浑南区"]), ("大连市", ["中山区", "沙河口区", "甘井子区"])],
    "吉林省": [("长春市", ["朝阳区", "南关区", "绿园区"]), ("吉林市", ["船营区"])],
    "黑龙江省": [("哈尔滨市", ["南岗区", "道里区", "香坊区"]), ("大庆市", ["萨尔图区"])],
    "江苏省": [
        ("南京市", ["鼓楼区", "玄武区", "建邺区", "江宁区"]),
        ("苏州市", ["姑苏区", "工业园区", "吴中区"]),
        ("无锡市", ["梁溪区", "滨湖区"]),
        ("常州市", ["天宁区", "武进区"]),
    ],
    "浙江省": [
        ("杭州市", ["西湖区", "上城区", "拱墅区", "滨江区", "余杭区"]),
        ("宁波市", ["鄞州区", "海曙区"]),
        ("温州市", ["鹿城区", "瓯海区"]),
        ("金华市", ["义乌市", "婺城区"]),
    ],
    "安徽省": [("合肥市", ["蜀山区", "包河区", "庐阳区"]), ("芜湖市", ["镜湖区", "鸠江区"])],
    "福建省": [
        ("福州市", ["鼓楼区", "仓山区", "晋安区"]),
        ("厦门市", ["思明区", "湖里区", "集美区"]),
        ("泉州市", ["丰泽区", "晋江市"]),
    ],
    "江西省": [("南昌市", ["东湖区", "红谷滩区", "青山湖区"]), ("赣州市", ["章贡区"])],
    "山东省": [
        ("济南市", ["历下区", "市中区", "槐荫区"]),
        ("青岛市", ["市南区", "崂山区", "黄岛区"]),
        ("烟台市", ["芝罘区", "莱山区"]),
    ],
    "河南省": [("郑州市", ["金水区", "二七区", "中原区", "郑东新区"]), ("洛阳市", ["洛龙区", "西工区"])],
    "湖北省": [("武汉市", ["武昌区", "洪山区", "江汉区", "江岸区"]), ("宜昌市", ["西陵区"])],
    "湖南省": [("长沙市", ["岳麓区", "天心区", "开福区", "雨花区"]), ("株洲市", ["天元区"])],
    "广东省": [
        ("广州市", ["天河区", "越秀区", "海珠区", "番禺区", "白云区"]),
        ("深圳市", ["南山区", "福田区", "宝安区", "龙岗区", "龙华区"]),
        ("东莞市", ["南城街道", "松山湖"]),
        ("佛山市", ["禅城区", "南海区", "顺德区"]),
    ],
    "广西壮族自治区": [
        ("南宁市", ["青秀区", "兴宁区", "西乡塘区"]),
        ("桂林市", ["秀峰区", "七星区"]),
        ("柳州市", ["城中区", "鱼峰区"]),
    ],
    "海南省": [("海口市", ["龙华区", "美兰区"]), ("三亚市", ["吉阳区", "天涯区"])],
    "四川省": [("成都市", ["武侯区", "锦江区", "青羊区", "高新区", "成华区"]), ("绵阳市", ["涪城区"])],
    "贵州省": [("贵阳市", ["云岩区", "南明区", "观山湖区"]), ("遵义市", ["红花岗区"])],
    "云南省": [("昆明市", ["五华区", "盘龙区", "官渡区"]), ("大理白族自治州", ["大理市"])],
    "西藏自治区": [("拉萨市", ["城关区", "堆龙德庆区"])],
    "陕西省": [("西安市", ["雁塔区", "碑林区", "未央区", "长安区"]), ("咸阳市", ["秦都区"])],
    "甘肃省": [("兰州市", ["城关区", "七里河区", "安宁区"])],
    "青海省": [("西宁市", ["城西区", "城东区"])],
    "宁夏回族自治区": [("银川市", ["兴庆区", "金凤区", "西夏区"])],
    "新疆维吾尔自治区": [("乌鲁木齐市", ["天山区", "沙依巴克区", "新市区"]), ("喀什地区", ["喀什市"])],
}

# Rough share of orders per province (populous coastal provinces order most).
_PROVINCE_WEIGHTS: dict[str, int] = {
    "广东省": 14,
    "浙江省": 9,
    "江苏省": 9,
    "上海市": 7,
    "北京市": 6,
    "山东省": 6,
    "四川省": 5,
    "河南省": 4,
    "湖北省": 4,
    "福建省": 4,
    "湖南省": 3,
    "安徽省": 3,
    "河北省": 3,
    "重庆市": 2,
    "陕西省": 2,
    "天津市": 2,
    "辽宁省": 2,
    "江西省": 2,
    "广西壮族自治区": 2,
    "云南省": 2,
    "山西省": 1,
    "贵州省": 1,
    "黑龙江省": 1,
    "吉林省": 1,
    "内蒙古自治区": 1,
    "海南省": 1,
    "甘肃省": 1,
    "新疆维吾尔自治区": 1,
    "宁夏回族自治区": 1,
    "青海省": 1,
    "西藏自治区": 1,
}
_PROVINCES = list(_PROVINCE_WEIGHTS)
_PROVINCE_W = list(_PROVINCE_WEIGHTS.values())

_STREETS = (
    "人民路 解放路 中山路 建设路 和平路 长江路 黄河路 新华路 文化路 学府路 科技园路 滨江大道 世纪大道 湖滨路 "
    "朝阳北路 迎宾大道 光明街 胜利街 青年路 东风路 南京路 延安路 淮海路 天府大道 珠江路 创业路 体育路 望江路"
).split()
_COMMUNITIES = (
    "阳光花园 锦绣华庭 翠湖天地 碧桂园 万科城 金色家园 幸福里 绿地中央广场 保利香槟国际 紫荆苑 华润城 龙湖天街 "
    "梧桐公寓 恒大名都 东方明珠小区 书香门第 滨江花园 和谐家园"
).split()
_BUILDINGS = ["写字楼", "大厦", "科技园", "创意园", "商务中心"]

_SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘蒋蔡余杜叶程魏苏吕丁任沈"
_GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰飞鹏辉婷雪琳晨宇浩然欣怡子轩梓涵思远佳琪"
_NICK_WORDS = (
    "小鱼儿 追风少年 柠檬不萌 奶茶续命 momo 阿狸 快乐星球 晴天 大白 喵喵酱 一只橙子 栗子 木子 Sunny kiki 阿杰 胖虎 "
    "程序猿 宝妈 海绵宝宝"
).split()

_MOBILE_PREFIXES = (
    "130 131 132 133 134 135 136 137 138 139 150 151 152 153 155 156 157 158 159 166 170 171 173 175 176 177 178 "
    "180 181 182 183 184 185 186 187 188 189 191 198 199"
).split()

_MEMOS = [
    "加急，明天要用",
    "要发票，抬头：上海某某科技有限公司",
    "送赠品",
    "请用顺丰",
    "不要放快递柜，放门卫",
    "周末送货，工作日家里没人",
    "生日礼物，别放价格单",
    "同款上次少发了一件，这次请核对",
    "尽快发货谢谢",
    "麻烦包装好一点，送人的",
    "要发票",
    "加急",
]
_SELLER_MEMOS = ["老客户，优先发", "VIP 客户", "已备注赠品：小样 2 份", "客服：确认地址无误"]

# Typical price points in fen (9.9, 19.9 … 599 元).
_PRICE_POINTS = [
    int(fen)
    for fen in "990 1290 1590 1990 2590 2990 3590 3990 4990 5990 6990 7990 8990 9900 12900 15900 19900 "
    "25900 29900 39900 59900".split()
]


def price_for(sku: str) -> int:
    """A stable unit price (fen) for a SKU code, so the same SKU always sells at the same price."""
    return _PRICE_POINTS[zlib.crc32(sku.encode()) % len(_PRICE_POINTS)]


def _mobile(rng: random.Random) -> str:
    return rng.choice(_MOBILE_PREFIXES) + f"{rng.randrange(10**8):08d}"


def _receiver_phone(rng: random.Random) -> str:
    # Platforms hide real numbers behind privacy numbers with an extension (虚拟号 + 分机号).
    if rng.random() < 0.12:
        return f"{_mobile(rng)}-{rng.randrange(10**4):04d}"
    return _mobile(rng)


def _name(rng: random.Random) -> str:
    given = rng.choice(_GIVEN) + (rng.choice(_GIVEN) if rng.random() < 0.7 else "")
    return rng.choice(_SURNAMES) + given


def _nick(rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.3:
        return f"tb{rng.randrange(10**9, 10**10)}"
    if roll < 0.45:
        return f"jd_{rng.randrange(16**8):08x}"
    if roll < 0.55:
        return f"用户{rng.randrange(10**7, 10**8)}"
    return rng.choice(_NICK_WORDS) + (str(rng.randrange(1980, 2010)) if rng.random() < 0.5 else "")


def _detail(rng: random.Random) -> str:
    street = f"{rng.choice(_STREETS)}{rng.randrange(1, 999)}号"
    if rng.random() < 0.2:
        building = f"{rng.choice(['金融', '国际', '时代', '环球', '中心'])}{rng.choice(_BUILDINGS)}"
        return f"{street}{building}{rng.randrange(2, 40)}{rng.randrange(1, 30):02d}室"
    community = rng.choice(_COMMUNITIES)
    if rng.random() < 0.3:
        community += f"{rng.choice(['一', '二', '三', '四'])}期"
    unit = rng.randrange(1, 6)
    room = f"{rng.randrange(1, 33)}{rng.randrange(1, 5):02d}"
    return f"{street}{community}{rng.randrange(1, 30)}栋{unit}单元{room}室"


def _receiver(
    rng: random.Random, form: Literal["split", "line"] | None, province: str | None
) -> tuple[dict[str, str], str]:
    """The receiver dict, and its province (full name) whichever form the address takes."""
    if province is None:
        province = rng.choices(_PROVINCES, weights=_PROVINCE_W)[0]
    city, districts = rng.choice(_REGIONS[province])
    district = rng.choice(districts)
    detail = _detail(rng)
    receiver = {"name": _name(rng), "phone": _receiver_phone(rng)}
    form = form or ("split" if rng.random() < 0.65 else "line")
    if form == "split":
        receiver.update(province=province, city=city, district=district, detail=detail)
        return receiver, province
    # One-line addresses as buyers type them: 直辖市 not repeated, sometimes spaces, sometimes a short province.
    if city == province:
        parts = [province, district, detail]
    else:
        short = province
        if rng.random() < 0.3:
            for suffix in ("壮族自治区", "回族自治区", "维吾尔自治区", "自治区", "省"):
                if short.endswith(suffix):
                    short = short[: -len(suffix)]
                    break
        parts = [short, city, district, detail]
    receiver["address"] = (" " if rng.random() < 0.4 else "").join(parts)
    return receiver, province


def _as_beijing(value: datetime) -> datetime:
    if value.tzinfo is None:  # naive times are taken as Beijing time
        return value.replace(tzinfo=BEIJING)
    return value.astimezone(BEIJING)


def _iso(value: datetime) -> str:
    return value.isoformat(timespec="seconds")


def make_order(
    rng: random.Random,
    *,
    external_id: str,
    skus: Sequence[str],
    now: datetime | None = None,
    prices: Mapping[str, int] | None = None,
    max_lines: int = 4,
    address_form: Literal["split", "line"] | None = None,
    province: str | None = None,
) -> dict[str, Any]:
    """One ``UnifiedOrder`` as a JSON-ready dict.

    ``skus``: codes to choose lines from (distinct per order). ``prices``: unit price in fen per code (else a
    stable price from :func:`price_for`). ``now``: when the order is paid (default: the current time); naive
    datetimes are read as Beijing time. ``address_form``: force ``"split"`` (province/city/district/detail) or
    ``"line"`` (one-line ``address``); mixed by default. ``province``: force a province (full official name).
    """
    if not skus:
        raise ValueError("make_order needs at least one SKU code")
    if province is not None and province not in _REGIONS:
        raise ValueError(f"unknown province {province!r}")
    paid = _as_beijing(now or datetime.now(BEIJING)) - timedelta(seconds=rng.randrange(0, 30))
    created = paid - timedelta(seconds=rng.randrange(3, 900))

    count = min(rng.choices([1, 2, 3, 4], weights=[55, 25, 12, 8])[0], max(1, max_lines), len(skus))
    lines: list[dict[str, Any]] = []
    for sku in rng.sample(list(skus), count):
        qty = rng.choices([1, 2, 3, 5], weights=[75, 18, 5, 2])[0]
        unit_price = prices[sku] if prices is not None and sku in prices else price_for(sku)
        lines.append({"sku": sku, "qty": qty, "unit_price": unit_price})
    goods = sum(line["qty"] * line["unit_price"] for line in lines)

    receiver, receiver_province = _receiver(rng, address_form, province)
    if receiver_province in REMOTE_PROVINCES:
        shipping_fee = rng.choice([1500, 1800, 2000])
    elif goods >= 4900 or rng.random() < 0.7:
        shipping_fee = 0  # 包邮
    else:
        shipping_fee = rng.choice([600, 800, 1000])

    discount = 0
    roll = rng.random()
    if goods >= 29900 and roll < 0.5:
        discount = 3000  # 满 299 减 30
    elif goods >= 19900 and roll < 0.5:
        discount = 2000  # 满 199 减 20
    elif roll < 0.2:
        discount = rng.choice([300, 500, 1000])  # 店铺优惠券
    discount = min(discount, goods + shipping_fee)

    order: dict[str, Any] = {
        "external_id": external_id,
        "created_at": _iso(created),
        "paid_at": _iso(paid),
        "buyer": {"nick": _nick(rng), "phone": _mobile(rng) if rng.random() < 0.6 else ""},
        "receiver": receiver,
        "lines": lines,
        "shipping_fee": shipping_fee,
        "discount": discount,
        "paid_amount": goods + shipping_fee - discount,
    }
    if rng.random() < 0.15:
        order["buyer_memo"] = rng.choice(_MEMOS)
    if rng.random() < 0.05:
        order["seller_memo"] = rng.choice(_SELLER_MEMOS)
    return order


def ingest_body(channel: str, orders: Sequence[Mapping[str, Any]]) -> bytes:
    """The exact bytes to POST to ``/api/v1/orders/ingest`` (sign these bytes, send these bytes)."""
    return json.dumps({"channel": channel, "orders": list(orders)}, ensure_ascii=False, separators=(",", ":")).encode()


def sign(channel: str, secret: str, body: bytes, timestamp: int | None = None) -> dict[str, str]:
    """The three signature headers for ``body``: hex HMAC-SHA256(secret, timestamp + "\\n" + body).

    The hub accepts each signature once, so two identical bodies signed in the same second collide: vary the
    body (or the timestamp) when re-sending on purpose.
    """
    ts = str(int(time.time()) if timestamp is None else int(timestamp))
    digest = hmac.new(secret.encode(), ts.encode() + b"\n" + body, hashlib.sha256).hexdigest()
    return {
        "X-OrderHub-Channel": channel,
        "X-OrderHub-Timestamp": ts,
        "X-OrderHub-Signature": digest,
    }
