"""Demo data for ``orderhub run``: a believable shop a newcomer can click through while demo orders flow in.

Three warehouses with walkable locations, ~200 SKUs with barcodes and stock (a few kept low so that out-of-stock
exceptions show up), two own-store channels the demo shop pushes into (the platform channels pull from their
simulators) and one user per staff role. Everything goes through the domain services, inside one transaction: a
seed that fails half-way leaves nothing behind and is simply run again.

Idempotent: when the demo warehouse ``SH`` already exists nothing is created again; the demo users are still
returned and ``demo_channels.json`` / ``demo_skus.json`` are rewritten if missing (channel secrets that were lost
are rotated, since the hub never shows a secret twice).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import os
import random
import tempfile
import time
from collections.abc import Coroutine, Iterable, Sequence
from pathlib import Path
from typing import Any

import msgspec

from orderhub import clock, db
from orderhub.auth.service import NewUser, Role, create_user, list_users
from orderhub.catalog.service import NewSku, create_sku
from orderhub.channels.service import NewChannel, create_channel, list_channels, rotate_secret, update_channel
from orderhub.channels.tables import Channel
from orderhub.errors import NotFound
from orderhub.inventory.service import (
    NewLocation,
    NewWarehouse,
    adjust_stock,
    create_location,
    create_warehouse,
    get_warehouse,
)
from orderhub.settings import get_settings

__all__ = [
    "CHANNELS_FILE",
    "DEMO_CHANNELS",
    "DEMO_CREW",
    "DEMO_USERS",
    "DEMO_WAREHOUSES",
    "FLOOR_FILE",
    "PLATFORM_SHOPS_FILE",
    "SERVICES_FILE",
    "SKUS_FILE",
    "DemoSku",
    "connect_platform_shops",
    "connect_services",
    "demo_catalog",
    "seed_demo",
]

log = logging.getLogger("orderhub.demo")

CHANNELS_FILE = "demo_channels.json"
SKUS_FILE = "demo_skus.json"
_ACTOR = "system:demo-seed"
_SEED = 20261111  # fixed: every fresh demo looks the same
_WIDTH = 16  # service calls in flight at once while seeding


# ---------------------------------------------------------------- warehouses and locations

DEMO_WAREHOUSES: tuple[NewWarehouse, ...] = (
    NewWarehouse(
        code="SH",
        name="华东仓",
        region="华东",
        provinces=["上海市", "江苏省", "浙江省", "安徽省", "福建省", "江西省", "山东省", "河南省", "湖北省"],
        address="上海市青浦区华新镇华志路1688号 华东物流园 3 号库",
    ),
    NewWarehouse(
        code="GZ",
        name="华南仓",
        region="华南",
        provinces=[
            "广东省",
            "广西壮族自治区",
            "海南省",
            "湖南省",
            "重庆市",
            "四川省",
            "贵州省",
            "云南省",
            "西藏自治区",
        ],
        address="广东省广州市白云区太和镇永兴村 南方电商产业园 B 栋",
    ),
    NewWarehouse(
        code="BJ",
        name="华北仓",
        region="华北",
        provinces=[
            "北京市",
            "天津市",
            "河北省",
            "山西省",
            "内蒙古自治区",
            "辽宁省",
            "吉林省",
            "黑龙江省",
            "陕西省",
            "甘肃省",
            "青海省",
            "宁夏回族自治区",
            "新疆维吾尔自治区",
        ],
        address="北京市大兴区礼贤镇物流大道 66 号 京南仓储中心 2 号库",
    ),
)

# warehouse → (zones, aisles per zone); 10 bays × 3 levels per aisle.
_LAYOUT: dict[str, tuple[tuple[str, ...], int]] = {"SH": (("A", "B"), 6), "GZ": (("A", "B"), 4), "BJ": (("A",), 6)}
_BAYS = 10
_LEVELS = 3


def _locations(warehouse: str) -> list[NewLocation]:
    """A serpentine walk: aisle 01 up the bays, aisle 02 back down, …; levels bottom to top at each bay."""
    zones, aisles = _LAYOUT[warehouse]
    result: list[NewLocation] = []
    sequence = 0
    for zone in zones:
        for aisle in range(1, aisles + 1):
            bays = range(1, _BAYS + 1) if aisle % 2 else range(_BAYS, 0, -1)
            for bay in bays:
                for level in range(1, _LEVELS + 1):
                    sequence += 10  # gaps leave room to insert locations later without renumbering
                    result.append(
                        NewLocation(
                            warehouse=warehouse,
                            code=f"{zone}-{aisle:02d}-{bay:02d}-{level}",
                            zone=zone,
                            aisle=f"{aisle:02d}",
                            bay=f"{bay:02d}",
                            level=str(level),
                            sequence=sequence,
                        )
                    )
    return result


# ---------------------------------------------------------------- catalog


class DemoSku(msgspec.Struct, frozen=True, kw_only=True):
    code: str
    name: str
    category: str
    barcode: str
    weight_g: int
    volume_cm3: int
    price: int  # fen, what the demo shop sells it for


# (code, name, weight g, volume cm³, price fen, variant axes [(code part, label)…])
_Axis = Sequence[tuple[str, str]]
_Product = tuple[str, str, int, int, int, Sequence[_Axis]]

_BLK, _WHT, _GRY, _NVY = ("BLK", "黑色"), ("WHT", "白色"), ("GRY", "灰色"), ("NVY", "藏青")
_PNK, _BLU, _GRN = ("PNK", "粉色"), ("BLU", "蓝色"), ("GRN", "绿色")
_SIZES_SML = [("S", "S"), ("M", "M"), ("L", "L")]
_SIZES_MLX = [("M", "M"), ("L", "L"), ("XL", "XL")]

_CATALOG: dict[str, tuple[int, list[_Product]]] = {
    # category: (brand code for the EAN, products)
    "服装": (
        31207,
        [
            ("TS-001", "纯棉圆领短袖T恤", 200, 1500, 5900, [[_BLK, _WHT, _GRY, _NVY], [("S", "S"), *_SIZES_MLX]]),
            ("HD-002", "加绒连帽卫衣", 650, 6000, 15900, [[_BLK, _GRY, ("KHA", "卡其")], _SIZES_MLX]),
            (
                "JN-003",
                "直筒弹力牛仔裤",
                600,
                3500,
                12900,
                [[("LBL", "浅蓝"), ("DBL", "深蓝")], [("28", "28码"), ("30", "30码"), ("32", "32码"), ("34", "34码")]],
            ),
            ("DJ-004", "90白鸭绒轻薄羽绒服", 450, 8000, 29900, [[_BLK, ("RED", "红色"), ("BEI", "米白")], _SIZES_MLX]),
            ("SP-005", "运动速干短裤", 180, 1200, 4900, [[_BLK, _NVY], _SIZES_MLX]),
            ("SO-006", "纯棉中筒袜 5双装", 250, 1000, 2990, [[_BLK, _WHT, ("MIX", "混色")]]),
            ("DR-007", "法式碎花连衣裙", 300, 2500, 16900, [[_BLU, _PNK], _SIZES_SML]),
        ],
    ),
    "数码配件": (
        48519,
        [
            ("CB-101", "USB-C 快充数据线", 60, 200, 1990, [[_WHT, _BLK], [("1M", "1米"), ("2M", "2米")]]),
            ("PB-102", "20000mAh 移动电源", 420, 600, 9900, [[_WHT, _BLK]]),
            ("EB-103", "真无线蓝牙耳机", 120, 400, 19900, [[_WHT, _BLK]]),
            (
                "PC-104",
                "iPhone 15 液态硅胶手机壳",
                40,
                150,
                3990,
                [[_BLK, ("PRP", "紫色"), _GRN], [("15", "15"), ("15P", "15 Pro"), ("15PM", "15 Pro Max")]],
            ),
            ("GL-105", "高清钢化膜 2片装", 30, 100, 1990, [[("15", "15"), ("15P", "15 Pro"), ("15PM", "15 Pro Max")]]),
            ("CH-106", "65W 氮化镓充电器", 130, 150, 8900, [[_WHT, _BLK]]),
            ("MS-107", "静音无线鼠标", 90, 400, 5990, [[_BLK, _WHT, _PNK]]),
            ("KB-108", "87键机械键盘", 900, 4000, 22900, [[("RED", "红轴"), ("BRN", "茶轴"), ("BLU", "青轴")]]),
            ("HB-109", "七合一 USB-C 扩展坞", 110, 250, 12900, []),
            ("SD-110", "高速 TF 存储卡", 10, 20, 3990, [[("64G", "64GB"), ("128G", "128GB"), ("256G", "256GB")]]),
            ("WB-111", "智能运动手环", 80, 300, 19900, [[_BLK, _PNK]]),
        ],
    ),
    "家居": (
        52736,
        [
            ("TW-201", "新疆长绒棉毛巾 2条装", 300, 1800, 3990, [[_WHT, _GRY, _BLU, _PNK]]),
            ("PL-202", "慢回弹记忆棉枕", 1200, 20000, 12900, []),
            (
                "BS-203",
                "全棉磨毛四件套",
                2200,
                9000,
                29900,
                [[_GRY, ("CHK", "绿格")], [("15", "1.5米床"), ("18", "1.8米床")]],
            ),
            ("CP-204", "316不锈钢保温杯 500ml", 350, 1500, 8900, [[_BLK, _WHT, _GRN, _PNK]]),
            ("ST-205", "可折叠收纳箱", 800, 12000, 3990, [[("S", "小号"), ("M", "中号"), ("L", "大号")]]),
            ("HG-206", "防滑植绒衣架 20只装", 900, 5000, 2990, [[_GRY, _PNK]]),
            ("MP-207", "免手洗平板拖把", 1100, 9000, 5990, []),
            ("AR-208", "香薰蜡烛", 300, 600, 4990, [[("LAV", "薰衣草"), ("ROS", "玫瑰"), ("CED", "雪松")]]),
            ("LP-209", "LED 护眼台灯", 1300, 6000, 15900, [[_WHT, _BLK]]),
            (
                "SL-210",
                "EVA 居家拖鞋",
                300,
                3000,
                2590,
                [[_GRY, _BLU, _PNK], [("38", "38码"), ("40", "40码"), ("42", "42码"), ("44", "44码")]],
            ),
        ],
    ),
    "食品": (
        60318,
        [
            ("NT-301", "每日坚果 30包", 800, 4000, 9900, [[("750G", "750g")]]),
            ("TE-302", "明前西湖龙井 250g", 300, 1500, 29900, [[("SUP", "特级"), ("A1", "一级")]]),
            ("CF-303", "冷萃挂耳咖啡", 150, 1200, 3990, [[("10P", "10包"), ("30P", "30包")]]),
            ("RN-304", "柳州螺蛳粉", 1200, 4500, 3990, [[("3P", "3袋"), ("5P", "5袋")]]),
            ("HN-305", "秦岭土蜂蜜 500g", 700, 700, 6990, []),
            ("RC-306", "五常稻花香大米", 5100, 7000, 8990, [[("5KG", "5kg")]]),
            ("BJ-307", "风干牛肉干", 250, 900, 4990, [[("SPC", "香辣"), ("ORI", "原味"), ("CRY", "咖喱")]]),
            ("BR-308", "全麦手撕面包 1kg", 1050, 6000, 2990, []),
            ("OL-309", "特级初榨橄榄油 1L", 1100, 1300, 8990, []),
            ("MK-310", "纯牛奶 250ml×24盒", 6300, 8000, 6590, []),
            ("CO-311", "黑巧克力", 120, 200, 3590, [[("70", "70%可可"), ("85", "85%可可")]]),
            ("DF-312", "冻干水果脆", 200, 2500, 3290, [[("STR", "草莓"), ("MAN", "芒果")]]),
        ],
    ),
    "美妆": (
        74205,
        [
            (
                "LS-401",
                "丝绒哑光口红",
                30,
                30,
                19900,
                [
                    [
                        ("999", "999 正红"),
                        ("888", "888 复古红"),
                        ("316", "316 豆沙"),
                        ("520", "520 枫叶"),
                        ("101", "101 裸粉"),
                    ]
                ],
            ),
            ("FM-402", "玻尿酸补水面膜", 300, 800, 9900, [[("10P", "10片"), ("30P", "30片")]]),
            ("SS-403", "清爽防晒乳 SPF50+ 50ml", 80, 150, 12900, []),
            ("CL-404", "氨基酸洁面乳 120g", 150, 250, 5900, []),
            ("SE-405", "烟酰胺亮肤精华", 120, 200, 16900, [[("30ML", "30ml"), ("50ML", "50ml")]]),
            ("TN-406", "保湿爽肤水 150ml", 220, 300, 7900, []),
            ("CR-407", "修护面霜 50g", 150, 250, 19900, []),
            ("ES-408", "九色眼影盘", 90, 150, 8900, [[("ETH", "大地色"), ("PCH", "蜜桃色")]]),
            ("CU-409", "气垫BB霜", 100, 150, 13900, [[("N1", "N1 象牙白"), ("N2", "N2 自然色")]]),
            ("HS-410", "无硅油洗发水 500ml", 580, 650, 5990, [[("OIL", "控油"), ("REP", "修护")]]),
            ("HC-411", "护手霜礼盒 5支装", 260, 600, 6900, []),
        ],
    ),
    "母婴": (
        81942,
        [
            ("DP-501", "婴儿纸尿裤", 1800, 12000, 11900, [[("S", "S码"), ("M", "M码"), ("L", "L码"), ("XL", "XL码")]]),
            ("WW-502", "婴儿手口湿巾 80抽", 600, 2000, 2990, [[("3P", "3包"), ("10P", "10包")]]),
            ("BT-503", "PPSU 宽口奶瓶", 150, 900, 12900, [[("240ML", "240ml"), ("300ML", "300ml")]]),
        ],
    ),
    "宠物": (
        85163,
        [
            ("CT-601", "全价成猫粮", 2100, 5000, 8900, [[("2KG", "2kg"), ("10KG", "10kg")]]),
            ("DG-602", "全价成犬粮", 1600, 4000, 7900, [[("15KG", "1.5kg"), ("10KG", "10kg")]]),
            ("LT-603", "豆腐猫砂 6L", 2500, 7000, 3990, []),
            ("TY-604", "羽毛逗猫棒", 50, 400, 990, []),
        ],
    ),
    "运动户外": (
        90427,
        [
            (
                "YM-701",
                "加厚防滑瑜伽垫",
                1200,
                8000,
                7990,
                [[("PRP", "紫色"), _BLU, _GRN], [("6MM", "6mm"), ("10MM", "10mm")]],
            ),
            ("JR-702", "计数钢丝跳绳", 250, 600, 2990, []),
            (
                "RS-703",
                "轻量缓震跑鞋",
                700,
                9000,
                29900,
                [
                    [_BLK, _WHT],
                    [("39", "39码"), ("40", "40码"), ("41", "41码"), ("42", "42码"), ("43", "43码"), ("44", "44码")],
                ],
            ),
            ("SB-704", "运动水壶 750ml", 200, 1200, 3990, [[_BLK, _BLU]]),
        ],
    ),
}


def _ean13(first12: str) -> str:
    """EAN-13 with its check digit (weights 1,3,1,3… from the left)."""
    if len(first12) != 12 or not first12.isdigit():
        raise ValueError(f"EAN-13 needs 12 digits before the check digit, got {first12!r}")
    total = sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(first12))
    return first12 + str((10 - total % 10) % 10)


def demo_catalog() -> list[DemoSku]:
    """The demo SKUs (about 200), in a fixed order."""
    skus: list[DemoSku] = []
    for index, (category, (brand, products)) in enumerate(_CATALOG.items()):
        item = 0
        for code, name, weight, volume, price, axes in products:
            for combo in itertools.product(*axes) if axes else [()]:
                item += 1
                skus.append(
                    DemoSku(
                        code="-".join([code, *(part for part, _ in combo)]),
                        name=" ".join([name, *(label for _, label in combo)]),
                        category=category,
                        # 690–699: GS1 China; then the brand (company) code and the item number.
                        barcode=_ean13(f"69{index % 10}{brand:05d}{item:04d}"),
                        weight_g=weight,
                        volume_cm3=volume,
                        price=price,
                    )
                )
    return skus


def _stock_for(rng: random.Random) -> int:
    roll = rng.random()
    if roll < 0.03:
        return rng.randrange(0, 3)  # nearly sold out: orders for it end in out_of_stock exceptions
    if roll < 0.10:
        return rng.randrange(3, 13)
    if roll < 0.5:
        return rng.randrange(30, 150)
    return rng.randrange(150, 800)


# ---------------------------------------------------------------- channels and users

# The channels the demo shop (sandbox/demo_shop.py) pushes orders into, signed with their secrets: own stores only
# (code, platform, name, default warehouse). A platform channel (天猫, 抖店 …) gets its orders from its simulator's
# pulls (DEMO_PLATFORM_CHANNELS below): an order pushed into it would not exist on the platform, and confirming its
# shipment there would fail (订单不存在).
DEMO_CHANNELS: tuple[tuple[str, str, str, str], ...] = (
    ("own_store", "own_store", "品牌官网商城", "BJ"),
    ("own_miniapp", "own_store", "品牌小程序商城", "SH"),
)

# (username, password, role, display name, warehouse scope)
DEMO_USERS: tuple[tuple[str, str, Role, str, str | None], ...] = (
    ("manager", "demo-manager-1", Role.MANAGER, "王经理", None),
    ("picker", "demo-picker-1", Role.PICKER, "李拣货（华东仓）", "SH"),
    ("packer", "demo-packer-1", Role.PACKER, "张打包（华东仓）", "SH"),
    ("finance", "demo-finance-1", Role.FINANCE, "陈会计", None),
    ("approver", "demo-approver-1", Role.APPROVER, "赵主管", None),
)


# ---------------------------------------------------------------- files


def _write_private_json(path: Path, data: Any) -> None:
    """Write JSON atomically with mode 0600 (the channels file holds signing secrets)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, ensure_ascii=False, indent=2)
            fh.write("\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _read_secrets(path: Path) -> dict[str, str]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    return {str(k): str(v) for k, v in data.items() if isinstance(v, str) and v}


def _write_skus(data_dir: Path, catalog: Sequence[DemoSku]) -> None:
    skus = [{"code": s.code, "name": s.name, "category": s.category, "price": s.price} for s in catalog]
    _write_private_json(data_dir / SKUS_FILE, skus)


# ---------------------------------------------------------------- seeding


async def _demo_exists() -> bool:
    try:
        await get_warehouse(DEMO_WAREHOUSES[0].code)
    except NotFound:
        return False
    return True


async def _run_chunked(calls: Iterable[Coroutine[Any, Any, object]]) -> None:
    """Run service calls inside the caller's transaction, several at a time on SQLite.

    On SQLite they share the transaction's one aiosqlite connection; keeping its queue non-empty saves most of
    the per-query thread round trips (measured: 8.8 s → 4.3 s for the whole seed). Each call touches its own
    rows. A TaskGroup cancels the siblings of a failed call, so nothing runs after the transaction rolls back.
    PostgreSQL (asyncpg) allows one operation at a time per connection, so there they run one by one.
    """
    width = _WIDTH if db.is_sqlite() else 1
    pending: list[Coroutine[Any, Any, object]] = []
    for call in calls:
        pending.append(call)
        if len(pending) >= width:
            async with asyncio.TaskGroup() as group:
                for item in pending:
                    group.create_task(item)
            pending = []
    if pending:
        async with asyncio.TaskGroup() as group:
            for item in pending:
                group.create_task(item)


async def _create_all(catalog: Sequence[DemoSku]) -> dict[str, str]:
    """Everything, in one transaction (the services' own transactions join it). Returns channel → secret."""
    rng = random.Random(_SEED)
    stock = [[_stock_for(rng) for _ in DEMO_WAREHOUSES] for _ in catalog]
    secrets_by_channel: dict[str, str] = {}
    async with db.transaction():
        for warehouse in DEMO_WAREHOUSES:
            await create_warehouse(warehouse)
        await _run_chunked(
            create_location(location) for warehouse in DEMO_WAREHOUSES for location in _locations(warehouse.code)
        )
        for sku in catalog:  # one by one: SKU ids follow the catalog order
            await create_sku(
                NewSku(
                    code=sku.code,
                    name=sku.name,
                    barcodes=[sku.barcode],
                    weight_g=sku.weight_g,
                    volume_cm3=sku.volume_cm3,
                )
            )
        await _run_chunked(
            adjust_stock(
                sku=sku.code,
                warehouse=warehouse.code,
                delta=None,
                set_to=on_hand,
                reason="演示数据：期初库存",
                actor=_ACTOR,
            )
            for sku, levels in zip(catalog, stock, strict=True)
            for warehouse, on_hand in zip(DEMO_WAREHOUSES, levels, strict=True)
        )
        for code, platform, name, warehouse_code in DEMO_CHANNELS:
            _, secret = await create_channel(
                NewChannel(code=code, platform=platform, name=name, default_warehouse=warehouse_code)
            )
            secrets_by_channel[code] = secret
        existing = {user.username for user in await list_users()}
        for username, password, role, display_name, scope in DEMO_USERS:
            if username in existing:  # e.g. the admin was named "manager"; keep theirs
                continue
            await create_user(
                NewUser(
                    username=username,
                    password=password,
                    role=role.value,
                    display_name=display_name,
                    warehouse=scope,
                )
            )
    return secrets_by_channel


# Devices on the floor of each demo warehouse, and the badges of the demo floor staff.
DEMO_DEVICES: tuple[tuple[str, str, str, str], ...] = tuple(
    item
    for w in ("SH", "GZ", "BJ")
    for item in (
        (f"{w}-PDA-01", w, "pda", f"{w} 拣货枪 1"),
        (f"{w}-PDA-02", w, "pda", f"{w} 拣货枪 2"),
        (f"{w}-PACK-01", w, "pack_station", f"{w} 打包台 1"),
    )
)
DEMO_BADGES = {"picker": "BADGE-0001", "packer": "BADGE-0002"}


async def _ensure_picking_demo(catalog: Sequence[DemoSku]) -> None:
    """Pick faces for every SKU in every warehouse (spread over the aisles), PDAs and pack stations, badges.
    Runs on demo databases made before picking existed too; does nothing when the devices exist."""
    from orderhub.auth.service import update_user
    from orderhub.picking.config import set_sku_locations, update_settings, warehouse_id_of
    from orderhub.picking.sessions import list_devices, register_device

    if await list_devices(code=DEMO_DEVICES[0][0]):
        return
    for warehouse in DEMO_WAREHOUSES:
        locations = [loc.code for loc in _locations(warehouse.code) if loc.level == "1"]
        step = max(1, len(locations) // max(1, len(catalog)))
        pairs = [
            (sku.code, locations[(i * step + i // len(locations)) % len(locations)]) for i, sku in enumerate(catalog)
        ]
        warehouse_id = await warehouse_id_of(warehouse.code)
        await set_sku_locations(warehouse_id, pairs)
        await update_settings(warehouse_id, {"max_wait_minutes": 2})  # the demo shows waves within minutes
    for code, warehouse_code, kind, name in DEMO_DEVICES:
        await register_device(code, warehouse_code, name=name, kind=kind)
    users = {user.username: user for user in await list_users()}
    for username, badge in DEMO_BADGES.items():
        if username in users and users[username].badge is None:
            await update_user(users[username].id, {"badge": badge})


# The simulated floor crew (sandbox/demo_floor.py, started by ``orderhub run``): per demo warehouse two pickers and a
# packer, each with a badge and a device of their own — the tour's handheld (``SH-PDA-01`` + ``BADGE-0001``) stays
# free for a person. (username, display name, role, warehouse, badge, device, device kind)
FLOOR_FILE = "demo_floor.json"
_CREW_NAMES: dict[str, tuple[str, str, str]] = {
    "SH": ("孙丽", "周强", "吴芳"),
    "GZ": ("郑伟", "冯静", "陈杰"),
    "BJ": ("褚磊", "卫娟", "蒋涛"),
}
DEMO_CREW: tuple[tuple[str, str, Role, str, str, str, str], ...] = tuple(
    item
    for w, (pick_1, pick_2, pack_1) in _CREW_NAMES.items()
    for item in (
        (f"sim-{w.lower()}-pick-1", f"{pick_1}（拣货·模拟）", Role.PICKER, w, f"SIM-{w}-P1", f"{w}-PDA-S1", "pda"),
        (f"sim-{w.lower()}-pick-2", f"{pick_2}（拣货·模拟）", Role.PICKER, w, f"SIM-{w}-P2", f"{w}-PDA-S2", "pda"),
        (
            f"sim-{w.lower()}-pack-1",
            f"{pack_1}（打包·模拟）",
            Role.PACKER,
            w,
            f"SIM-{w}-K1",
            f"{w}-PACK-S1",
            "pack_station",
        ),
    )
)


async def _ensure_floor_crew(data_dir: Path, catalog: Sequence[DemoSku]) -> None:
    """The simulated crew's accounts (badge sign-in only: their passwords are random and kept nowhere) and devices,
    created when missing; then ``demo_floor.json`` (0600: it holds the badges) for the simulator, with the SKUs'
    barcodes — what a handheld reads off the goods."""
    import secrets as _secrets

    from orderhub.picking.config import update_settings, warehouse_id_of
    from orderhub.picking.sessions import list_devices, register_device

    existing = {user.username for user in await list_users()}
    devices = {device.code for device in await list_devices()}
    created = False
    for username, name, role, warehouse, badge, device, kind in DEMO_CREW:
        if username not in existing:
            await create_user(
                NewUser(
                    username=username,
                    password=_secrets.token_urlsafe(18),
                    role=role.value,
                    display_name=name,
                    warehouse=warehouse,
                    badge=badge,
                )
            )
            created = True
        if device not in devices:
            label = "拣货枪" if kind == "pda" else "打包台"
            await register_device(device, warehouse, name=f"{name} 的{label}", kind=kind)
    if created:  # first time: waves within a minute, so the crew has work soon after start
        for warehouse_code in _CREW_NAMES:
            await update_settings(await warehouse_id_of(warehouse_code), {"max_wait_minutes": 1})
    crew = [
        {"username": u, "name": n, "role": r.value, "warehouse": w, "badge": b, "device": d}
        for u, n, r, w, b, d, _ in DEMO_CREW
    ]
    _write_private_json(data_dir / FLOOR_FILE, {"crew": crew, "barcodes": {s.code: s.barcode for s in catalog}})


async def _recover_secrets(path: Path) -> dict[str, str]:
    """Secrets for the demo's push channels: kept from the file when present, else rotated; a channel an older demo
    lacked is created. Platform channels an older demo pushed into drop out of the file."""
    known = _read_secrets(path)
    existing = {view.code for view in await list_channels()}
    result: dict[str, str] = {}
    for code, platform, name, warehouse_code in DEMO_CHANNELS:
        if code not in existing:
            _, result[code] = await create_channel(
                NewChannel(code=code, platform=platform, name=name, default_warehouse=warehouse_code)
            )
            continue
        if code in known:
            result[code] = known[code]
        else:
            result[code] = await rotate_secret(code)
            log.warning("demo channel secret was lost; rotated", extra={"channel": code})
    return result


async def _ensure_history(catalog: Sequence[DemoSku], per_day: int) -> None:
    """The past week of orders (server/demo/history.py), over the push channels and the platform channels (created
    here with pulls off when missing; connect_platform_shops points them at their simulators)."""
    from server.demo.history import HISTORY_DAYS, backfill_history

    if per_day <= 0:
        return
    existing = {view.code for view in await list_channels()}
    for code, platform, _, name, warehouse in DEMO_PLATFORM_CHANNELS:
        if code not in existing:
            await create_channel(
                NewChannel(code=code, platform=platform, name=name, default_warehouse=warehouse, pull_enabled=False)
            )
    channels = [code for code, *_ in DEMO_CHANNELS] + [code for code, *_ in DEMO_PLATFORM_CHANNELS]
    warehouses = {w.code: list(w.provinces) for w in DEMO_WAREHOUSES}
    written = await backfill_history(
        [(s.code, s.price) for s in catalog], warehouses, channels=channels, days=HISTORY_DAYS, per_day=per_day
    )
    if written:
        print(f"demo history: {written} orders of the past {HISTORY_DAYS} days (the dashboards compare today to them)")


async def seed_demo(data_dir: Path, *, history_per_day: int = 0) -> list[tuple[str, str, str]]:
    """Create the demo shop once; return the demo users as (username, password, role). ``history_per_day``: orders
    a day of the past week to write when the hub has none from before today (0: none)."""
    data_dir = Path(data_dir)
    channels_file = data_dir / CHANNELS_FILE
    catalog = demo_catalog()
    await db.open_engine(get_settings())
    try:
        if await _demo_exists():
            secrets_by_channel = await _recover_secrets(channels_file)
            if secrets_by_channel != _read_secrets(channels_file):
                _write_private_json(channels_file, secrets_by_channel)
        else:
            started = time.perf_counter()
            secrets_by_channel = await _create_all(catalog)
            _write_private_json(channels_file, secrets_by_channel)
            log.info(
                "demo data created",
                extra={
                    "skus": len(catalog),
                    "warehouses": len(DEMO_WAREHOUSES),
                    "seconds": round(time.perf_counter() - started, 2),
                },
            )
        await _ensure_picking_demo(catalog)
        await _ensure_floor_crew(data_dir, catalog)
        await _ensure_history(catalog, history_per_day)
        await _ensure_crossborder_demo()
        if not (data_dir / SKUS_FILE).exists():
            _write_skus(data_dir, catalog)
    finally:
        await db.close()
    return [(username, password, role.value) for username, password, role, _, _ in DEMO_USERS]


# ---------------------------------------------------------------- cross-border (docs/customs.md)

# Customs data of three demo SKUs, to Thailand: the power bank (HS 8507, on the TIS-mandatory list) has no TISI number
# yet, so its order stops at customs_data_missing; the earbuds and the cable have everything.
_DEMO_CUSTOMS: tuple[tuple[str, dict[str, Any]], ...] = (
    ("EB-103-WHT", {"hs_code": "85183000", "name_en": "True wireless Bluetooth earbuds", "th": "หูฟังบลูทูธไร้สาย",
                    "material": "plastic, electronics", "usage": "listening to audio", "unit_value": 8000}),
    ("CB-101-WHT-1M", {"hs_code": "85444200", "name_en": "USB-C charging cable 1 m", "th": "สายชาร์จ USB-C 1 เมตร",
                       "material": "copper, TPE", "usage": "charging phones", "unit_value": 900,
                       "certificates": {"TISI": "TIS 11-2553/0042"}}),
    ("PB-102-WHT", {"hs_code": "85076000", "name_en": "Power bank 20000 mAh", "th": "แบตเตอรี่สำรอง 20000 mAh",
                    "material": "lithium-ion cells, plastic", "usage": "charging phones", "unit_value": 4500}),
)  # fmt: skip
DEMO_THAI_ORDERS = ("DEMO-TH-0001", "DEMO-TH-0002")


async def _ensure_crossborder_demo() -> None:
    """Customs data on three SKUs and two orders to Bangkok on the own store: one ready with its duty and VAT
    estimate, one in exception customs_data_missing (the power bank's TISI number). Once; skipped when the SKUs are
    not in the catalog."""
    from orderhub.channels.service import get_channel_ref
    from orderhub.customs.model import SkuCustoms
    from orderhub.customs.skus import put_sku_customs
    from orderhub.orders.commands import NewOrder, NewOrderLine
    from orderhub.orders.service import ingest, make_receiver
    from orderhub.orders.tables import Order
    from orderhub.queue import create_queue, set_queue
    from orderhub.redis import create_client as redis_client
    from orderhub.redis import set_client as set_redis

    if await Order.exists().where(Order.external_id == DEMO_THAI_ORDERS[0]):
        return
    try:
        for code, data in _DEMO_CUSTOMS:
            record = SkuCustoms(
                sku=code,
                hs_code=data["hs_code"],
                name_en=data["name_en"],
                names={"th": data["th"]},
                material=data["material"],
                usage=data["usage"],
                origin_country="CN",
                unit_value=data["unit_value"],
                currency="CNY",
                certificates=data.get("certificates", {}),
            )
            await put_sku_customs(code, record, actor=_ACTOR)
        channel = await get_channel_ref("own_store")
    except NotFound:
        return
    receiver = make_receiver(
        name="Somchai Jaidee",
        phone="+66 81 234 5678",
        country="TH",
        address_lines=["99/1 Sukhumvit Road", "Khlong Toei Nuea"],
        city="Watthana",
        region="Bangkok",
        postcode="10110",
    )
    now = clock.now()
    orders = [
        NewOrder(
            external_id=external_id,
            placed_at=now,
            paid_at=now,
            buyer_nick="somchai.j",
            buyer_phone="",
            receiver=receiver,
            lines=tuple(NewOrderLine(sku=sku, qty=qty, unit_price=price) for sku, qty, price in lines),
            shipping_fee=3500,
            discount=0,
            paid_amount=sum(qty * price for _, qty, price in lines) + 3500,
            buyer_memo="",
            seller_memo="演示：跨境订单（泰国）",
            raw={},
        )
        for external_id, lines in (
            (DEMO_THAI_ORDERS[0], [("EB-103-WHT", 1, 19900), ("CB-101-WHT-1M", 2, 1990)]),
            (DEMO_THAI_ORDERS[1], [("PB-102-WHT", 1, 9900)]),
        )
    ]
    settings = get_settings()
    if not settings.redis_url:  # nowhere to queue them for the pipeline
        return
    client = redis_client(settings.redis_url)
    jobs = create_queue(client, settings)
    await jobs.connect()
    set_queue(jobs, settings)  # intake queues each order for the worker once it commits
    set_redis(client)  # and counts the inflow (surge mode)
    try:
        await ingest(channel.id, channel.code, orders, actor=_ACTOR)
    finally:
        set_queue(None)
        set_redis(None)
        await jobs.disconnect()
        await client.aclose()


# ---------------------------------------------------------------- platform shops (sandbox simulators)

PLATFORM_SHOPS_FILE = "platform_shops.json"
# demo channel → the simulator shop it pulls from (created when missing)
DEMO_PLATFORM_CHANNELS: tuple[tuple[str, str, str, str, str], ...] = (
    ("tmall_flagship", "tmall", "taobao", "天猫旗舰店", "SH"),
    ("douyin_live", "douyin", "douyin", "抖音直播间", "GZ"),
    ("pdd_store", "pdd", "pinduoduo", "拼多多专营店", "SH"),
)


async def connect_platform_shops(shops: dict[str, dict[str, str]]) -> list[str]:
    """Point the demo's platform channels at the running simulators (``shops``: their credentials file; keys
    change every start), pulling every minute from a fresh cursor. Returns the channel codes connected."""
    connected: list[str] = []
    await db.open_engine(get_settings())
    try:
        existing = {view.code for view in await list_channels()}
        for code, platform, sim_name, name, warehouse in DEMO_PLATFORM_CHANNELS:
            shop = shops.get(sim_name)
            if shop is None:
                continue
            credentials = {
                "app_key": shop["app_key"],
                "app_secret": shop["app_secret"],
                "access_token": shop["access_token"],
                "refresh_token": shop.get("refresh_token", ""),
                "shop_id": shop.get("shop_id", ""),
                "base_url": shop["url"],
            }
            if code not in existing:
                await create_channel(NewChannel(code=code, platform=platform, name=name, default_warehouse=warehouse))
            await update_channel(code, {"credentials": credentials, "pull_enabled": True, "pull_every_minutes": 1})
            await Channel.update({Channel.pull_cursor: None}).where(Channel.code == code)
            connected.append(code)
    finally:
        await db.close()
    return connected


# ---------------------------------------------------------------- carriers and 快递100 (sandbox simulators)

SERVICES_FILE = "services.json"
# what each demo carrier charges from every demo warehouse (fen): 极兔 cheapest but slow, 顺丰 dearest and fastest
DEMO_RATE_CARDS: dict[str, dict[str, Any]] = {
    "SF": {"rows": [{"provinces": ["*"], "first_fen": 1200, "additional_fen": 300, "transit_days": 1}],
           "pickups": ["12:00", "18:00"]},
    "ZTO": {"rows": [{"provinces": ["*"], "first_fen": 650, "additional_fen": 150, "transit_days": 2}],
            "pickups": ["17:00"]},
    "JT": {"rows": [{"provinces": ["*"], "first_fen": 550, "additional_fen": 120, "transit_days": 3}],
           "pickups": ["16:00"], "max_weight_g": 5000},
}


_DEMO_POSTCODES = {"SH": "201100", "GZ": "510000", "BJ": "100000"}  # the demo warehouses' postcodes


async def connect_services(found: dict[str, Any], hub_url: str) -> list[str]:
    """Point the demo at the running outside-service simulators (``found``: their credentials file; keys change
    every start): carrier accounts (one per carrier and warehouse), rate cards, 快递100 tracking, Aliyun SMS for
    customers and WeCom for the demo manager. Returns the carrier account codes."""
    from orderhub.auth.service import update_user
    from orderhub.logistics import rates, tracking, waybills
    from orderhub.notifications import config as notify_config
    from orderhub.notifications import templates as notify_templates

    codes: list[str] = []
    await db.open_engine(get_settings())
    try:
        existing = {a.code for a in await waybills.list_accounts()}
        for warehouse in DEMO_WAREHOUSES:
            for carrier, given in found["carriers"].items():
                code = f"demo-{carrier}-{warehouse.code}".lower()
                credentials = dict(given)
                if carrier == "SF":  # SF's cross-border orders need the sender's postcode (docs/logistics.md)
                    credentials["sender_postcode"] = _DEMO_POSTCODES.get(warehouse.code, "")
                if code in existing:
                    await waybills.set_account_credentials(code, credentials)
                else:
                    await waybills.create_account(
                        waybills.NewCarrierAccount(
                            code=code,
                            carrier=carrier,
                            credentials=credentials,
                            warehouse=warehouse.code,
                            sender_name=f"{warehouse.name}发货组",
                            sender_phone="4008001234",
                            priority={"ZTO": 3, "JT": 2, "SF": 1}.get(carrier, 0),
                        )
                    )
                card = msgspec.convert(DEMO_RATE_CARDS[carrier], rates.RateCardIn)
                await rates.put_rate_card(warehouse.code, carrier, card, actor="demo")
                codes.append(code)
        kd = found["kuaidi100"]
        await tracking.configure_provider(
            tracking.TrackingProvider(
                key=kd["key"], customer=kd["customer"], base_url=kd["base_url"], callback_base_url=hub_url
            ),
            actor="demo",
        )
        sms = dict(found["aliyun_sms"])
        sms_templates: dict[str, str] = sms.pop("templates")
        await notify_config.set_provider("aliyun_sms", sms, actor="demo")
        await notify_config.set_provider("wecom", dict(found["wecom"]), actor="demo")
        for notice, code in sms_templates.items():
            default = notify_templates.DEFAULTS[(notice, "aliyun_sms")]
            body = notify_templates.TemplateIn(template_id=code, fields=default.fields, title=default.title,
                                               text=default.text, urgent=default.urgent)
            await notify_templates.put_template(notice, "aliyun_sms", body, actor="demo")
        current = await notify_config.load_settings()
        await notify_config.save_settings(msgspec.structs.replace(current, public_base_url=hub_url), actor="demo")
        # Found the way production finds alert recipients (an active manager; orderhub.notifications.outbox), by the
        # demo manager's username — never by anything else in DEMO_USERS.
        name = next(username for username, _, role, _, _ in DEMO_USERS if role is Role.MANAGER)
        manager = next(
            (u for u in await list_users() if u.username == name and u.role == Role.MANAGER.value and u.active), None
        )
        if manager is None:
            log.warning("no demo manager to hear alerts in WeCom", extra={"username": name})
        elif not manager.wecom_userid:
            await update_user(manager.id, {"wecom_userid": "demo-manager"})
    finally:
        await db.close()
    return codes
