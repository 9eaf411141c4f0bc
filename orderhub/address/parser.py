"""Receiver address and phone standardisation (pure functions; the worker calls them for every order).

:func:`standardise` turns a one-line address ("浙江省杭州市西湖区文三路100号") or the separate fields a platform
sends (province / city / district / detail) into 省/市/区县 + detail + the 6-digit 行政区划代码. It matches the
longest known name at each position, province → city → county-level, over the index in
:mod:`orderhub.address.divisions`; a typical address costs a few dozen dictionary look-ups.

How the levels are filled:

* 直辖市 (北京/天津/上海/重庆): ``province`` and ``city`` are both the municipality's name ("上海市"); "上海市浦东新区",
  "上海上海市浦东新区" and "上海市市辖区浦东新区" all give 上海市/上海市/浦东新区/310115. 重庆's counties (5002xx) also
  get city "重庆市".
* Province-administered county-level units, with no prefecture-level city above them (河南 济源市, 湖北 仙桃市/
  潜江市/天门市/神农架林区, 海南 琼海市/文昌市/五指山市/… and its counties, 新疆 石河子市/五家渠市/…): ``city`` and
  ``district`` are both the unit's name ("湖北省/仙桃市/仙桃市", code 429004, level ``district``), the way platforms
  and carriers fill them. A town given in the district field for them ("郑场镇") goes to the front of ``detail``.
* Prefecture-level cities without districts (东莞市, 中山市, 儋州市, 嘉峪关市): ``district`` is empty, the code is the
  city's and ``level`` is ``"city"``; that is a complete address.
* 香港/澳门: ``city`` is the region's name, ``district`` the 区/堂区.

``ok`` is true only for a complete address: county-level unit found (or a city that has none) and some detail left.
Otherwise ``reason`` is ``"bad_address"``, ``message`` says what is missing in Chinese, the province/city/district
fields (and ``understood``) hold what *was* recognised, and ``candidates`` lists the codes when a name is ambiguous
(鼓楼区 without its city). Retired names still used by buyers (渝北区, 江北区 → 两江新区; 梅列区 → 三元区) and old
suffixes (崇明县 → 崇明区) are rewritten to the current division, with a note in ``message``.

:func:`normalise_phone` recognises mobiles, landlines (area code + number, optional extension) and platform privacy
numbers (a mobile plus an extension: ``13800138000-1234``, ``13800138000转1234``).
"""

from __future__ import annotations

import re
import unicodedata
from typing import Literal

import msgspec

from orderhub.address.divisions import MUNICIPALITIES, SARS, Division, DivisionIndex, Hit, Level, get_index

__all__ = [
    "BAD_ADDRESS",
    "BAD_PHONE",
    "AddressResult",
    "PhoneKind",
    "PhoneResult",
    "normalise_phone",
    "standardise",
]

BAD_ADDRESS = "bad_address"
BAD_PHONE = "bad_phone"

PhoneKind = Literal["mobile", "landline", "privacy"]


class AddressResult(msgspec.Struct, frozen=True, kw_only=True):
    ok: bool
    province: str = ""
    city: str = ""
    district: str = ""
    detail: str = ""
    code: str | None = None  # 6 digits, of the most specific level recognised
    level: Level | None = None
    reason: str | None = None  # "bad_address" when not ok
    message: str | None = None  # zh-CN: why it failed, or a note about a rewritten name
    understood: dict[str, str] = {}  # on failure: the levels recognised (province/city/district → name)
    candidates: tuple[str, ...] = ()  # codes an ambiguous name could mean


class PhoneResult(msgspec.Struct, frozen=True, kw_only=True):
    ok: bool
    kind: PhoneKind | None = None
    number: str = ""  # mobile "13800138000"; landline "021-12345678"
    extension: str | None = None
    reason: str | None = None  # "bad_phone" when not ok
    message: str | None = None  # zh-CN, when not ok


# ---------------------------------------------------------------------------------------------------------------
# Addresses

_SEPARATORS = frozenset(" \t,，、/|;；:：-—_·.。")
_COUNTRY_PREFIXES = ("中华人民共和国", "中国大陆", "中国")
_SUFFIX_CHARS = frozenset("省市区县旗")


# Development / functional zones (not administrative divisions) that buyers write where the district goes.
_ZONE = re.compile(
    r"[\u4e00-\u9fff]{0,8}?(?:高新技术产业开发区|经济技术开发区|高新技术开发区|经济开发区|高新区|开发区|新区|"
    r"工业园区|工业园|保税区|经开区|园区)"
)


def _clean(text: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", text).split())


def _clean_name(text: str) -> str:
    return "".join(unicodedata.normalize("NFKC", text).split())


def _skip(s: str, pos: int) -> int:
    n = len(s)
    while pos < n and s[pos] in _SEPARATORS:
        pos += 1
    return pos


class _Walk:
    """One parse: the text, where we are, and what has been recognised so far."""

    __slots__ = ("city", "dist", "idx", "notes", "pos", "prov", "s")

    def __init__(self, idx: DivisionIndex, s: str, pos: int = 0) -> None:
        self.idx = idx
        self.s = s
        self.pos = pos
        self.prov: Division | None = None
        self.city: Division | None = None  # a prefecture-level city (for 直辖市 its main city row)
        self.dist: str | None = None  # county-level code as written (may be a retired one)
        self.notes: list[str] = []

    # -- helpers ------------------------------------------------------------------------------------------------

    def take(self, k: int, hit: Hit) -> None:
        """Advance past a matched name; after a short form also eat an old suffix (崇明县 for 崇明区)."""
        self.pos += k
        if hit.short and len(hit.codes) == 1 and self.pos < len(self.s) and self.s[self.pos] in _SUFFIX_CHARS:
            d = self.idx.by_code.get(hit.codes[0])
            if d is not None and d.level == "district":  # only county-level: nothing below it to mistake
                self.notes.append(f"「{self.s[self.pos - k : self.pos + 1]}」按现行名称记为{d.name}")
                self.pos += 1
        self.pos = _skip(self.s, self.pos)

    def set_district(self, code: str) -> None:
        idx = self.idx
        self.dist = code
        d = idx.by_code.get(code)
        if d is None:  # retired: place it by its old parent
            r = idx.retired[code]
            self.prov = self.prov or idx.by_code[r.parent[:2] + "0000"]
            return
        self.prov = self.prov or idx.by_code[d.province]

    def set_city(self, c: Division) -> None:
        if c.level == "district":  # province-administered county-level unit
            self.set_district(c.code)
        else:
            self.city = c
            self.prov = self.prov or self.idx.by_code[c.province]

    def skip_known(self) -> None:
        """Skip names repeating what is already known (上海上海市…, a detail that starts with 浙江省杭州市…).

        A repeat only counts when no county-level name at the same place is as long: in 承德市承德县 the second
        承德 is the county, not the city again.
        """
        idx, s = self.idx, self.s
        if self.prov is None:
            return
        initials = idx.initials
        for _ in range(4):
            pos = self.pos
            if pos >= len(s):
                return
            first = s[pos]
            if (
                first != "市"
                and first not in initials[self.prov.code]
                and (self.city is None or first not in initials[self.city.code])
                and (self.dist is None or first not in initials[self.dist])
            ):
                return
            floor = 0  # the longest *new* name here (a repeat must be longer to be skipped)
            if self.dist is None:
                scope = idx.districts_in.get(self.city.code if self.city is not None else self.prov.code)
                d = scope.longest(s, pos) if scope is not None else None
                floor = d[0] if d is not None else 0
                if self.city is None:  # 吉林省吉林市: 吉林市 is new, not 吉林 again
                    c = idx.cities_in[self.prov.code].longest(s, pos)
                    if c is not None and c[0] > floor and self.prov.code not in c[1].codes:
                        floor = c[0]
            m = idx.provinces.longest(s, pos)
            if m is None or m[0] <= floor or self.prov.code not in m[1].codes:
                m = idx.cities_in[self.prov.code].longest(s, pos)
                known = self.city.code if self.city is not None else self.dist
                if m is None or m[0] <= floor or known not in m[1].codes:
                    m = idx.districts_in[self.prov.code].longest(s, pos) if self.dist is not None else None
                    if m is None or self.dist not in m[1].codes:
                        m = None
            if m is not None:
                self.pos = _skip(s, pos + m[0])
            elif (self.city is not None or self.dist is not None) and s.startswith("市辖区", pos):
                self.pos = _skip(s, pos + 3)
            else:
                return

    def understood(self) -> dict[str, str]:
        out: dict[str, str] = {}
        if self.prov is not None:
            out["province"] = self.prov.name
        if self.city is not None:
            out["city"] = self.city.name
        return out

    def fail(self, message: str, candidates: tuple[str, ...] = ()) -> AddressResult:
        understood = self.understood()
        known = self.city or self.prov
        return AddressResult(
            ok=False,
            province=understood.get("province", ""),
            city=understood.get("city", ""),
            detail=self.s[self.pos :].strip(),
            code=known.code if known is not None else None,
            level=known.level if known is not None else None,
            reason=BAD_ADDRESS,
            message=message,
            understood=understood,
            candidates=candidates,
        )

    def ambiguous(self, name: str, codes: tuple[str, ...]) -> AddressResult:
        where = "、".join(
            self.idx.full_name(self.idx.retired[c].successor if c in self.idx.retired else c) for c in codes
        )
        return self.fail(f"「{name}」有多处：{where}，请写明所在省市", candidates=codes)

    def narrow_cities(self, codes: tuple[str, ...], after: int) -> tuple[str, ...]:
        """Of several cities with one name, those under which the following text names a county-level unit."""
        kept = tuple(
            c
            for c in codes
            if (t := self.idx.districts_in.get(c)) is not None and t.longest(self.s, _skip(self.s, after)) is not None
        )
        return kept or codes

    # -- steps --------------------------------------------------------------------------------------------------

    def start(self) -> AddressResult | None:
        """Nothing known yet: a province, or a city / county-level unit named without its parents."""
        idx, s, pos = self.idx, self.s, self.pos
        best = idx.provinces.longest(s, pos, (idx.cities_in, idx.districts_in))
        kind = "province"
        if best is None or best[1].short:  # 吉林 vs 吉林市, 海南 vs 海南州: the longer name wins
            m = idx.cities_any.longest(s, pos, (idx.districts_in,))
            if m is not None and (best is None or m[0] > best[0]):
                best, kind = m, "city"
            m = idx.districts_any.longest(s, pos)
            if m is not None and (best is None or m[0] > best[0]):
                best, kind = m, "district"
        if best is None:
            return self.fail("未识别到省、市或区县")
        k, hit = best
        name = s[pos : pos + k]
        if kind == "province":
            self.prov = idx.by_code[hit.codes[0]]
            self.take(k, hit)
        elif kind == "city":
            codes = hit.codes if len(hit.codes) == 1 else self.narrow_cities(hit.codes, pos + k)
            if len(codes) > 1:
                return self.ambiguous(name, codes)
            self.take(k, hit)
            self.set_city(idx.by_code[codes[0]])
        else:
            if len(hit.codes) > 1:
                return self.ambiguous(name, hit.codes)
            self.take(k, hit)
            self.set_district(hit.codes[0])
        return None

    def city_step(self) -> AddressResult | None:
        """Province known: its city, a province-administered unit, or (city omitted) a county-level unit."""
        idx, s = self.idx, self.s
        assert self.prov is not None
        cities, districts = idx.cities_in[self.prov.code], idx.districts_in[self.prov.code]
        m = cities.longest(s, self.pos, (idx.districts_in,))
        dm = districts.longest(s, self.pos)
        if m is None and dm is None:
            ph = idx.placeholders.longest(s, self.pos)
            if ph is not None:
                self.pos = _skip(s, self.pos + ph[0])
                m = cities.longest(s, self.pos, (idx.districts_in,))
                dm = districts.longest(s, self.pos)
        if m is not None and (dm is None or m[0] >= dm[0]):  # 承德 the city, unless 承德县 is written
            k, hit = m
            codes = hit.codes if len(hit.codes) == 1 else self.narrow_cities(hit.codes, self.pos + k)
            if len(codes) > 1:
                return self.ambiguous(s[self.pos : self.pos + k], codes)
            self.take(k, hit)
            self.set_city(idx.by_code[codes[0]])
            return None
        if dm is not None:
            k, hit = dm
            if len(hit.codes) > 1:
                return self.ambiguous(s[self.pos : self.pos + k], hit.codes)
            self.take(k, hit)
            self.set_district(hit.codes[0])
            return None
        elsewhere = idx.cities_any.longest(s, self.pos) or idx.districts_any.longest(s, self.pos)
        if elsewhere is not None and not elsewhere[1].short:
            return self.fail(f"「{s[self.pos : self.pos + elsewhere[0]]}」不属于{self.prov.name}")
        missing = "区县" if self.prov.code in MUNICIPALITIES else "城市或区县"
        return self.fail(f"已识别{self.prov.name}，未识别到{missing}")

    def district_step(self) -> AddressResult | None:
        """City known: its county-level unit (none needed for 东莞市/中山市…)."""
        idx, s = self.idx, self.s
        assert self.city is not None
        table = idx.districts_in.get(self.city.code)
        m = table.longest(s, self.pos) if table is not None else None
        if m is None and table is not None and self.pos > 0 and s[self.pos - 1] == "市":
            # 济南市中区 is 济南市 + 市中区: give the 市 back when only that makes a county-level name
            m = table.longest(s, self.pos - 1)
            if m is not None and not m[1].short:
                self.pos -= 1
            else:
                m = None
        if m is not None:
            k, hit = m
            if len(hit.codes) > 1:
                return self.ambiguous(s[self.pos : self.pos + k], hit.codes)
            self.take(k, hit)
            self.set_district(hit.codes[0])
            return None
        if self.city.code not in idx.children:
            return None  # a city without county-level units: complete at city level
        elsewhere = idx.districts_any.longest(s, self.pos)
        if elsewhere is not None and not elsewhere[1].short:
            return self.fail(f"「{s[self.pos : self.pos + elsewhere[0]]}」不属于{self.city.name}")
        zone = _ZONE.match(s, self.pos)
        if zone is not None:
            # 郑东新区 / 成都高新区 / 苏州工业园区: functional zones buyers write in place of the district.
            # Known city, zone name kept at the front of the detail, code at city level.
            self.notes.append(f"「{zone.group(0)}」是功能区而非行政区县，按{self.city.name}记录")
            return None
        return self.fail(f"已识别{self.prov.name if self.prov else ''}{self.city.name}，未识别到区县")

    def run(self) -> AddressResult:
        self.pos = _skip(self.s, self.pos)
        if self.prov is None and self.city is None and self.dist is None:
            if self.pos >= len(self.s):
                return self.fail("地址为空")
            for prefix in _COUNTRY_PREFIXES:
                if self.s.startswith(prefix, self.pos):
                    self.pos = _skip(self.s, self.pos + len(prefix))
                    break
            failed = self.start()
            if failed is not None:
                return failed
        self.skip_known()
        if self.dist is None and self.city is None:
            failed = self.city_step()
            if failed is not None:
                return failed
            self.skip_known()
        if self.dist is None:
            failed = self.district_step()
            if failed is not None:
                return failed
            self.skip_known()
        return self.finish()

    def finish(self) -> AddressResult:
        idx = self.idx
        detail = self.s[_skip(self.s, self.pos) :].strip()
        if self.dist is not None:
            written = self.dist
            code = written
            retired = idx.retired.get(written)
            if retired is not None:
                code = retired.successor
            moved = next((t for t in idx.town_moves.get(written, ()) if detail.startswith(t[0])), None)
            if moved is not None:
                code = moved[1]
            d = idx.by_code[code]
            if retired is not None:
                change = f"{moved[0]}现属{d.name}" if moved else f"按现行区划记为{d.name}"
                self.notes.insert(0, f"「{retired.name}」已于{retired.since}撤销，{change}")
            elif moved is not None:
                self.notes.insert(0, f"{moved[0]}现属{d.name}")
            prov = idx.by_code[d.province]
            parent = idx.by_code[d.parent]
            if parent.level == "city":
                city_name = parent.name
                if self.city is not None and self.city.code != parent.code and self.city.name != parent.name:
                    self.notes.append(f"{d.name}属于{parent.name}")
            elif d.province in SARS:
                city_name = prov.name
            else:  # province-administered: the unit stands in for the city
                city_name = d.name
            result_code, district = d.code, d.name
            level: Level = "district"
        else:
            assert self.city is not None and self.prov is not None
            prov, city_name, district = self.prov, self.city.name, ""
            result_code, level = self.city.code, "city"
        message = "；".join(self.notes) or None
        if not detail:
            understood = {"province": prov.name, "city": city_name}
            if district:
                understood["district"] = district
            return AddressResult(
                ok=False,
                province=prov.name,
                city=city_name,
                district=district,
                code=result_code,
                level=level,
                reason=BAD_ADDRESS,
                message="缺少详细地址（街道、门牌号）",
                understood=understood,
            )
        return AddressResult(
            ok=True,
            province=prov.name,
            city=city_name,
            district=district,
            detail=detail,
            code=result_code,
            level=level,
            message=message,
        )


def _structured(idx: DivisionIndex, province: str, city: str, district: str, detail: str) -> AddressResult:
    """Fields given separately: check each against its parent, then let the detail fill what is missing."""
    p, c, d = _clean_name(province), _clean_name(city), _clean_name(district)
    walk = _Walk(idx, _clean(detail))
    if p:
        hit = idx.provinces.exact(p)
        if hit is None:
            return walk.fail(f"无法识别省份「{p}」")
        walk.prov = idx.by_code[hit.codes[0]]
    if c and idx.placeholders.exact(c) is None:
        if walk.prov is not None:
            hit = idx.cities_in[walk.prov.code].exact(c)
        else:
            hit = idx.cities_any.exact(c)
            if hit is None and (ph := idx.provinces.exact(c)) is not None:  # city "上海市" with no province
                walk.prov = idx.by_code[ph.codes[0]]
                hit = idx.cities_in[walk.prov.code].exact(c)
        if hit is None:
            elsewhere = idx.cities_any.exact(c)
            if walk.prov is not None and elsewhere is not None:
                return walk.fail(f"城市「{c}」不属于{walk.prov.name}")
            return walk.fail(f"无法识别城市「{c}」")
        codes = hit.codes
        if len(codes) > 1 and d:
            codes = tuple(x for x in codes if (t := idx.districts_in.get(x)) is not None and t.exact(d)) or codes
        if len(codes) > 1:
            return walk.ambiguous(c, codes)
        walk.set_city(idx.by_code[codes[0]])
    if d and idx.placeholders.exact(d) is None:
        town_field = walk.dist is not None or (walk.city is not None and walk.city.code not in idx.children)
        if town_field:  # 仙桃市 / 东莞市 have no county-level units: the field holds a town (or repeats the city)
            unit = walk.dist or (walk.city.code if walk.city else "")
            if d != idx.by_code[unit].name and not walk.s.startswith(d):
                walk.s = f"{d}{walk.s}"
        else:
            if walk.city is not None:
                table = idx.districts_in[walk.city.code]
            elif walk.prov is not None:
                table = idx.districts_in[walk.prov.code]
            else:
                table = idx.districts_any
            hit = table.exact(d)
            if hit is None and walk.city is not None and _ZONE.fullmatch(d):
                walk.s = f"{d}{walk.s}"  # a functional zone in the district field: resolved at city level
            elif hit is None:
                where = walk.city or walk.prov
                if where is not None and idx.districts_any.exact(d) is not None:
                    return walk.fail(f"区县「{d}」不属于{where.name}")
                return walk.fail(f"无法识别区县「{d}」")
            elif len(hit.codes) > 1:
                return walk.ambiguous(d, hit.codes)
            else:
                walk.set_district(hit.codes[0])
    return walk.run()


def standardise(
    *, address: str = "", province: str = "", city: str = "", district: str = "", detail: str = ""
) -> AddressResult:
    """Standardise one receiver address: either ``address`` in one line, or the separate fields.

    When any of ``province``/``city``/``district`` is given, those fields are checked against each other and
    ``detail`` (or ``address``, if ``detail`` is empty) supplies whatever they leave out.
    """
    idx = get_index()
    if province or city or district:
        return _structured(idx, province, city, district, detail or address)
    return _Walk(idx, _clean(address or detail)).run()


# ---------------------------------------------------------------------------------------------------------------
# Phones

_MOBILE = re.compile(r"1[3-9]\d{9}")
_EXT_MARK = re.compile(r"\s*(?:转|分机|ext\.?|x|#|,|，|;|；)\s*", re.IGNORECASE)
_MAIN_CHARS = re.compile(r"[\d\s\-()+.—–_/]*")
_GROUP_SPLIT = re.compile(r"[\s\-().—–_/]+")


def _bad_phone(message: str) -> PhoneResult:
    return PhoneResult(ok=False, reason=BAD_PHONE, message=message)


def _split_at(groups: list[str], want: tuple[int, ...]) -> tuple[str, list[str]] | None:
    """Join leading groups until their digits reach one of the wanted lengths exactly, at a group boundary."""
    acc = ""
    for i, g in enumerate(groups):
        acc += g
        if len(acc) in want:
            return acc, groups[i + 1 :]
        if len(acc) > max(want):
            return None
    return None


def _landline(groups: list[str]) -> tuple[str, list[str]] | None:
    digits = "".join(groups)
    if not digits.startswith("0") or len(digits) < 10:
        return None
    if digits[1] == "1" and not digits.startswith("010"):
        return None  # 010 is the only 01x area code
    area_len = 3 if digits[1] in "12" else 4
    if len(groups) == 1:
        local = digits[area_len:]
        if len(local) not in (7, 8):
            return None
        return f"{digits[:area_len]}-{local}", []
    if len(groups[0]) == area_len:
        area, rest = groups[0], groups[1:]
    elif len(groups[0]) in (area_len + 7, area_len + 8):  # 02112345678-123
        area, rest = groups[0][:area_len], [groups[0][area_len:], *groups[1:]]
    else:
        return None
    split = _split_at(rest, (7, 8))
    if split is None:
        return None
    local, tail = split
    if local[0] == "0":
        return None
    return f"{area}-{local}", tail


def normalise_phone(raw: str) -> PhoneResult:
    """Normalise a receiver phone: mobile, landline (with area code) or privacy number (mobile + extension)."""
    s = unicodedata.normalize("NFKC", raw or "").strip()
    if not s:
        return _bad_phone("电话为空")
    if "*" in s:
        return _bad_phone("电话已脱敏（含*号），无法使用")
    parts = _EXT_MARK.split(s, maxsplit=1)
    main, ext = parts[0], parts[1] if len(parts) == 2 else ""
    if not _MAIN_CHARS.fullmatch(main):
        return _bad_phone(f"电话「{raw}」含有无法识别的字符")
    extension = ext.strip() or None
    if extension is not None and not (extension.isdigit() and 1 <= len(extension) <= 6):
        return _bad_phone(f"分机号「{extension}」不合法")
    main = main.strip()
    international = False
    if main.startswith("+"):
        main = main[1:].lstrip()
        international = True
        if not main.startswith("86"):
            return _bad_phone("暂不支持中国大陆以外的电话号码")
        main = main[2:]
    elif main.startswith("0086"):
        main, international = main[4:], True
    groups = [g for g in _GROUP_SPLIT.split(main) if g]
    if not groups or not all(g.isdigit() for g in groups):
        return _bad_phone(f"电话「{raw}」无法识别")
    digits = "".join(groups)
    if not international and digits.startswith("86") and len(digits) >= 13 and _MOBILE.match(digits, 2):
        if len(groups[0]) == 2:
            groups = groups[1:]
        else:
            groups[0] = groups[0][2:]
        digits = digits[2:]

    if len(digits) >= 12 and digits[0] == "0" and _MOBILE.match(digits, 1):  # 013800138000: a trunk 0 before a mobile
        digits = digits[1:]
        if len(groups[0]) == 1:
            groups = groups[1:]
        else:
            groups[0] = groups[0][1:]
    if _MOBILE.match(digits):
        split = _split_at(groups, (11,))
        if split is None:
            return _bad_phone(f"手机号「{raw}」位数不对")
        number, tail = split
        if tail:
            if extension is not None:
                return _bad_phone(f"电话「{raw}」无法识别")
            extension = "".join(tail)
            if len(extension) > 6:
                return _bad_phone(f"电话「{raw}」无法识别")
        return PhoneResult(ok=True, kind="privacy" if extension else "mobile", number=number, extension=extension)

    if international and not digits.startswith("0"):
        groups[0] = "0" + groups[0]
    landline = _landline(groups)
    if landline is None:
        if not digits.startswith("0") and 7 <= len(digits) <= 8:
            return _bad_phone(f"固定电话「{raw}」缺少区号")
        return _bad_phone(f"电话「{raw}」无法识别")
    number, tail = landline
    if tail:
        if extension is not None:
            return _bad_phone(f"电话「{raw}」无法识别")
        extension = "".join(tail)
        if len(extension) > 6:
            return _bad_phone(f"电话「{raw}」无法识别")
    return PhoneResult(ok=True, kind="landline", number=number, extension=extension)
