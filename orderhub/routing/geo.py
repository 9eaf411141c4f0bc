"""Which warehouse is nearest a province: served provinces first, then region distance.

Regions are the usual seven logistics regions; the distance table is in hops between neighbouring regions,
which is what carriers' zone pricing follows closely enough for choosing a warehouse.
"""

from __future__ import annotations

__all__ = ["REGION_OF", "region_distance"]

_REGIONS: dict[str, tuple[str, ...]] = {
    "华东": ("上海市", "江苏省", "浙江省", "安徽省", "福建省", "江西省", "山东省", "台湾省"),
    "华南": ("广东省", "广西壮族自治区", "海南省", "香港特别行政区", "澳门特别行政区"),
    "华北": ("北京市", "天津市", "河北省", "山西省", "内蒙古自治区"),
    "华中": ("河南省", "湖北省", "湖南省"),
    "西南": ("重庆市", "四川省", "贵州省", "云南省", "西藏自治区"),
    "西北": ("陕西省", "甘肃省", "青海省", "宁夏回族自治区", "新疆维吾尔自治区"),
    "东北": ("辽宁省", "吉林省", "黑龙江省"),
}
REGION_OF: dict[str, str] = {province: region for region, provinces in _REGIONS.items() for province in provinces}

_NEIGHBOURS: dict[str, tuple[str, ...]] = {
    "华东": ("华北", "华中", "华南"),
    "华南": ("华东", "华中", "西南"),
    "华北": ("华东", "华中", "东北", "西北"),
    "华中": ("华东", "华南", "华北", "西南", "西北"),
    "西南": ("华南", "华中", "西北"),
    "西北": ("华北", "华中", "西南"),
    "东北": ("华北",),
}


def _hops() -> dict[tuple[str, str], int]:
    table: dict[tuple[str, str], int] = {}
    for start in _NEIGHBOURS:
        seen, frontier, hop = {start}, [start], 0
        while frontier:
            for region in frontier:
                table[(start, region)] = hop
            hop += 1
            frontier = [n for r in frontier for n in _NEIGHBOURS[r] if n not in seen]
            seen.update(frontier)
    return table


_HOPS = _hops()
UNKNOWN = 9


def region_distance(province: str, warehouse_region: str) -> int:
    """Hops from the province's region to the warehouse's region (UNKNOWN when either is unknown)."""
    region = REGION_OF.get(province)
    if region is None or warehouse_region not in _NEIGHBOURS:
        return UNKNOWN
    return _HOPS[(region, warehouse_region)]
