"""Address standardisation and phone normalisation (pure functions, no database).

Generated cases come from the division table itself: every county-level unit in one line and as separate fields,
plus a seeded sample in other spellings (spaces and commas, short names, without province, without city). The
expected values are computed from the raw rows, not from the parser's index. Hand-written cases cover the tricky
shapes: 直辖市, autonomous regions and prefectures, province-administered units, repeated and ambiguous names,
retired names, failures.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

import pytest

from orderhub.address import BAD_ADDRESS, BAD_PHONE, DATA_SOURCE, AddressResult, get_index, normalise_phone, standardise
from orderhub.address.data.build import build_rows, render
from orderhub.address.divisions import MUNICIPALITIES, RETIRED, SARS, Division, load_divisions, short_names

DIVISIONS = load_divisions()
BY_CODE = {d.code: d for d in DIVISIONS}
DISTRICTS = [d for d in DIVISIONS if d.level == "district"]
DETAILS = ("幸福路88号3栋201", "人民大道1000号", "建设路12号院5号楼2单元301室", "和平社区7组", "阳光小区 A座 1502")


def expected_city(d: Division) -> str:
    """The city a county-level unit is reported under (see the parser's module docstring)."""
    parent = BY_CODE[d.parent]
    if parent.level == "city":
        return parent.name
    return BY_CODE[d.province].name if d.province in SARS else d.name


def written_city(d: Division) -> str:
    """The city as a buyer writes it before the county-level name ("" when there is none to write)."""
    parent = BY_CODE[d.parent]
    if d.province in MUNICIPALITIES:
        return BY_CODE[d.province].name
    return parent.name if parent.level == "city" else ""


def mismatch(r: AddressResult, d: Division, detail: str | None = None) -> str | None:
    want = (True, BY_CODE[d.province].name, expected_city(d), d.name, d.code, "district")
    got = (r.ok, r.province, r.city, r.district, r.code, r.level)
    if got != want or (detail is not None and r.detail != detail):
        return f"{d.code} {d.name}: got {got} detail={r.detail!r} ({r.message})"
    return None


def check_all(cases: Sequence[tuple[Division, AddressResult, str]]) -> None:
    bad = [m for d, r, detail in cases if (m := mismatch(r, d, detail)) is not None]
    assert not bad, f"{len(bad)} of {len(cases)} wrong, e.g.:\n" + "\n".join(bad[:20])


# -- every county-level unit ---------------------------------------------------------------------------------


def test_table_is_complete_and_compact() -> None:
    path = Path(__file__).parents[2] / "orderhub/address/data/divisions.tsv"
    assert path.stat().st_size < 200_000
    assert "2025-12-31" in path.read_text(encoding="utf-8").splitlines()[1]
    assert "2025-12-31" in DATA_SOURCE
    assert len([d for d in DIVISIONS if d.level == "province"]) == 34
    assert len(DISTRICTS) > 2900
    for d in DIVISIONS:
        assert len(d.code) == 6 and d.code.isdigit()
        assert not d.parent or d.parent in BY_CODE
    # current as of the snapshot: 两江新区 replaced 江北区/渝北区 (2025-11), 和安县/和康县 (2024)
    assert BY_CODE["500157"].name == "两江新区"
    assert "500112" not in BY_CODE and "500105" not in BY_CODE
    assert {BY_CODE["653228"].name, BY_CODE["653229"].name} == {"和康县", "和安县"}


def test_index_is_built_once() -> None:
    assert get_index() is get_index()


def test_every_district_in_one_line() -> None:
    cases = []
    for i, d in enumerate(DISTRICTS):
        detail = DETAILS[i % len(DETAILS)]
        address = BY_CODE[d.province].name + written_city(d) + d.name + detail
        cases.append((d, standardise(address=address), detail))
    check_all(cases)


def test_every_district_as_fields() -> None:
    cases = []
    for i, d in enumerate(DISTRICTS):
        detail = DETAILS[i % len(DETAILS)]
        city = written_city(d) or (d.name if d.province not in SARS else "")
        r = standardise(province=BY_CODE[d.province].name, city=city, district=d.name, detail=detail)
        cases.append((d, r, detail))
    check_all(cases)


def test_every_city_without_districts_is_complete_at_city_level() -> None:
    children = {d.parent for d in DIVISIONS}
    cities = [d for d in DIVISIONS if d.level == "city" and d.code not in children]
    assert {"东莞市", "中山市", "儋州市", "嘉峪关市"} <= {c.name for c in cities}
    for c in cities:
        r = standardise(address=f"{BY_CODE[c.province].name}{c.name}某某镇幸福路1号")
        assert (r.ok, r.city, r.district, r.code, r.level, r.detail) == (
            True,
            c.name,
            "",
            c.code,
            "city",
            "某某镇幸福路1号",
        )


def test_county_level_name_alone_is_found_or_reported_ambiguous() -> None:
    by_name: dict[str, list[str]] = defaultdict(list)
    for d in DISTRICTS:
        by_name[d.name].append(d.code)
    for r in RETIRED:
        by_name[r.name].append(r.code)
    bad = []
    for name, codes in by_name.items():
        res = standardise(address=f"{name}幸福路1号")
        if len(codes) == 1 and codes[0] in BY_CODE:
            if not (res.ok and res.code == codes[0]):
                bad.append(f"{name}: {res}")
        elif len(codes) > 1:
            if res.ok or set(res.candidates) != set(codes) or res.reason != BAD_ADDRESS:
                bad.append(f"{name} should be ambiguous: {res}")
    assert not bad, "\n".join(bad[:20])
    assert len([n for n, c in by_name.items() if len(c) > 1]) > 40  # 朝阳区, 鼓楼区, 城区, 市中区 …


# -- sampled spellings -----------------------------------------------------------------------------------------

SAMPLE = random.Random(20260101).sample(DISTRICTS, 400)


def _scope_names(d: Division) -> list[str]:
    """Every name (full and short) of the other county-level units searched together with ``d``."""
    scope = d.province if d.province in MUNICIPALITIES or BY_CODE[d.parent].level != "city" else d.parent
    out: list[str] = []
    for o in DISTRICTS:
        if o.code != d.code and (o.parent == scope or (scope == d.province and o.province == scope)):
            out += [o.name, *short_names(o.name, "district")]
    return out


def test_sample_with_spaces_and_commas() -> None:
    cases = []
    for i, d in enumerate(SAMPLE):
        sep = (" ", ", ", "，", " / ")[i % 4]
        parts = [BY_CODE[d.province].name, written_city(d), d.name, "幸福路 88 号"]
        cases.append((d, standardise(address=sep.join(p for p in parts if p)), "幸福路 88 号"))
    check_all(cases)


def test_sample_without_province() -> None:
    cases = []
    for d in SAMPLE:
        if d.province in MUNICIPALITIES | SARS or BY_CODE[d.province].name == "台湾省":
            continue
        cases.append((d, standardise(address=written_city(d) + d.name + "幸福路1号"), "幸福路1号"))
    assert len(cases) > 300
    check_all(cases)


def test_sample_without_city() -> None:
    """浙江省西湖区…: found when the name is unique in its province, otherwise reported as ambiguous."""
    cases, ambiguous = [], 0
    for d in SAMPLE:
        same = [o.code for o in DISTRICTS if o.province == d.province and o.name == d.name]
        r = standardise(address=BY_CODE[d.province].name + d.name + "幸福路1号")
        if len(same) > 1:
            ambiguous += 1
            assert not r.ok and d.code in r.candidates and r.understood == {"province": BY_CODE[d.province].name}
        else:
            cases.append((d, r, "幸福路1号"))
    check_all(cases)


def test_sample_with_short_names() -> None:
    """内蒙古 / 伊犁州 / 浦东 …: short names at every level when they are unambiguous where they are used."""
    cases = []
    for d in SAMPLE:
        prov = BY_CODE[d.province]
        p_short = (short_names(prov.name, "province") or [prov.name])[0]
        city = written_city(d)
        c_short = city if d.province in MUNICIPALITIES else (short_names(city, "city") or [city])[0] if city else ""
        d_shorts = short_names(d.name, "district")
        if not d_shorts:
            continue
        d_short = d_shorts[-1]
        others = _scope_names(d)
        if d_short in others or d_short.startswith("市") or d_short == c_short or d_short == p_short:
            continue  # ambiguous as written (井陉 = 井陉县 or 井陉矿区), not a parser failure
        cases.append((d, standardise(address=p_short + c_short + d_short + "幸福路1号"), "幸福路1号"))
    assert len(cases) > 250
    check_all(cases)


# -- tricky one-line addresses ---------------------------------------------------------------------------------

ONE_LINE = [
    # 直辖市
    ("上海市浦东新区张江路100号", "上海市", "上海市", "浦东新区", "310115", "张江路100号"),
    ("上海上海市浦东新区张江路100号", "上海市", "上海市", "浦东新区", "310115", "张江路100号"),
    ("上海市市辖区浦东新区张江路1号", "上海市", "上海市", "浦东新区", "310115", "张江路1号"),
    ("上海浦东张江路1号", "上海市", "上海市", "浦东新区", "310115", "张江路1号"),
    ("浦东张江路1号", "上海市", "上海市", "浦东新区", "310115", "张江路1号"),
    ("北京市朝阳区望京SOHO T1", "北京市", "北京市", "朝阳区", "110105", "望京SOHO T1"),
    ("北京 北京市 朝阳区 建国路1号", "北京市", "北京市", "朝阳区", "110105", "建国路1号"),
    ("北京市朝阳区朝阳门外大街", "北京市", "北京市", "朝阳区", "110105", "朝阳门外大街"),
    ("中华人民共和国北京市海淀区中关村大街1号", "北京市", "北京市", "海淀区", "110108", "中关村大街1号"),
    ("天津滨海新区第三大街", "天津市", "天津市", "滨海新区", "120116", "第三大街"),
    ("重庆城口县葛城街道", "重庆市", "重庆市", "城口县", "500229", "葛城街道"),
    ("重庆市重庆市城口县葛城街道", "重庆市", "重庆市", "城口县", "500229", "葛城街道"),
    ("重庆市县城口县葛城街道", "重庆市", "重庆市", "城口县", "500229", "葛城街道"),
    ("重庆市两江新区金渝大道66号", "重庆市", "重庆市", "两江新区", "500157", "金渝大道66号"),
    # autonomous regions and prefectures
    (
        "新疆维吾尔自治区伊犁哈萨克自治州伊宁市解放路1号",
        "新疆维吾尔自治区",
        "伊犁哈萨克自治州",
        "伊宁市",
        "654002",
        "解放路1号",
    ),
    ("新疆伊犁州伊宁县英塔木镇", "新疆维吾尔自治区", "伊犁哈萨克自治州", "伊宁县", "654021", "英塔木镇"),
    ("内蒙古呼市新城区新华大街1号", "内蒙古自治区", "呼和浩特市", "新城区", "150102", "新华大街1号"),
    ("广西南宁市青秀区民族大道1号", "广西壮族自治区", "南宁市", "青秀区", "450103", "民族大道1号"),
    ("广西壮族自治区桂林市秀峰区中山中路", "广西壮族自治区", "桂林市", "秀峰区", "450302", "中山中路"),
    ("西藏拉萨市城关区北京中路", "西藏自治区", "拉萨市", "城关区", "540102", "北京中路"),
    ("宁夏银川市兴庆区解放西街", "宁夏回族自治区", "银川市", "兴庆区", "640104", "解放西街"),
    ("湖北省恩施土家族苗族自治州恩施市舞阳大道", "湖北省", "恩施土家族苗族自治州", "恩施市", "422801", "舞阳大道"),
    ("恩施州恩施市舞阳大道", "湖北省", "恩施土家族苗族自治州", "恩施市", "422801", "舞阳大道"),
    ("延边州延吉市光明街", "吉林省", "延边朝鲜族自治州", "延吉市", "222401", "光明街"),
    ("阿坝州马尔康市达萨街", "四川省", "阿坝藏族羌族自治州", "马尔康市", "513201", "达萨街"),
    ("重庆石柱县南宾街道", "重庆市", "重庆市", "石柱土家族自治县", "500240", "南宾街道"),
    ("吉林省前郭县平凤乡", "吉林省", "松原市", "前郭尔罗斯蒙古族自治县", "220721", "平凤乡"),
    ("青海海南州共和县恰卜恰镇", "青海省", "海南藏族自治州", "共和县", "632521", "恰卜恰镇"),
    # province-administered county-level units: city = the unit itself
    ("河南省济源市沁园路1号", "河南省", "济源市", "济源市", "419001", "沁园路1号"),
    ("河南省济源市济源市沁园路1号", "河南省", "济源市", "济源市", "419001", "沁园路1号"),
    ("湖北省仙桃市郑场镇新场村", "湖北省", "仙桃市", "仙桃市", "429004", "郑场镇新场村"),
    ("湖北省潜江市园林街道", "湖北省", "潜江市", "潜江市", "429005", "园林街道"),
    ("湖北天门市竟陵街道", "湖北省", "天门市", "天门市", "429006", "竟陵街道"),
    ("湖北省神农架林区松柏镇", "湖北省", "神农架林区", "神农架林区", "429021", "松柏镇"),
    ("海南省琼海市嘉积镇1号", "海南省", "琼海市", "琼海市", "469002", "嘉积镇1号"),
    ("海南文昌市文城镇", "海南省", "文昌市", "文昌市", "469005", "文城镇"),
    ("海南省五指山市通什镇", "海南省", "五指山市", "五指山市", "469001", "通什镇"),
    ("海南省省直辖县级行政区划陵水黎族自治县椰林镇", "海南省", "陵水黎族自治县", "陵水黎族自治县", "469028", "椰林镇"),
    ("新疆石河子市北四路", "新疆维吾尔自治区", "石河子市", "石河子市", "659001", "北四路"),
    ("石河子市北四路", "新疆维吾尔自治区", "石河子市", "石河子市", "659001", "北四路"),
    ("仙桃市郑场镇", "湖北省", "仙桃市", "仙桃市", "429004", "郑场镇"),
    # province or city omitted
    ("杭州市西湖区文三路100号", "浙江省", "杭州市", "西湖区", "330106", "文三路100号"),
    ("杭州西湖文三路", "浙江省", "杭州市", "西湖区", "330106", "文三路"),
    ("浙江省西湖区文三路100号", "浙江省", "杭州市", "西湖区", "330106", "文三路100号"),
    ("浙江杭州西湖区文三路", "浙江省", "杭州市", "西湖区", "330106", "文三路"),
    ("中国浙江省杭州市余杭区文一西路", "浙江省", "杭州市", "余杭区", "330110", "文一西路"),
    ("浙江省义乌市稠州北路", "浙江省", "金华市", "义乌市", "330782", "稠州北路"),
    ("义乌稠州北路", "浙江省", "金华市", "义乌市", "330782", "稠州北路"),
    ("深圳南山科技园", "广东省", "深圳市", "南山区", "440305", "科技园"),
    ("苏州工业园区星湖街", "江苏省", "苏州市", "苏州工业园区", "320576", "星湖街"),
    # the same name in several places: the parent decides
    ("北京市朝阳区建国路1号", "北京市", "北京市", "朝阳区", "110105", "建国路1号"),
    ("吉林省长春市朝阳区红旗街", "吉林省", "长春市", "朝阳区", "220104", "红旗街"),
    ("辽宁省朝阳市双塔区朝阳大街", "辽宁省", "朝阳市", "双塔区", "211302", "朝阳大街"),
    ("辽宁省朝阳市朝阳县柳城镇", "辽宁省", "朝阳市", "朝阳县", "211321", "柳城镇"),
    ("辽宁朝阳县柳城镇", "辽宁省", "朝阳市", "朝阳县", "211321", "柳城镇"),
    ("南京市鼓楼区中山路1号", "江苏省", "南京市", "鼓楼区", "320106", "中山路1号"),
    ("徐州鼓楼区中山北路", "江苏省", "徐州市", "鼓楼区", "320302", "中山北路"),
    ("福建省福州市鼓楼区五四路", "福建省", "福州市", "鼓楼区", "350102", "五四路"),
    ("福州鼓楼五四路", "福建省", "福州市", "鼓楼区", "350102", "五四路"),
    ("河南省开封市鼓楼区中山路", "河南省", "开封市", "鼓楼区", "410204", "中山路"),
    ("吉林省吉林市船营区北京路", "吉林省", "吉林市", "船营区", "220204", "北京路"),
    ("吉林市船营区北京路", "吉林省", "吉林市", "船营区", "220204", "北京路"),
    ("吉林吉林市船营区北京路", "吉林省", "吉林市", "船营区", "220204", "北京路"),
    ("河北省承德市承德县下板城镇", "河北省", "承德市", "承德县", "130821", "下板城镇"),
    ("山东济南市中区经四路", "山东省", "济南市", "市中区", "370103", "经四路"),
    ("青岛市市南区香港中路", "山东省", "青岛市", "市南区", "370202", "香港中路"),
    ("石家庄桥西区中山西路", "河北省", "石家庄市", "桥西区", "130104", "中山西路"),
    ("河北唐山路南区新华道", "河北省", "唐山市", "路南区", "130202", "新华道"),
    ("黑龙江哈尔滨道里区中央大街", "黑龙江省", "哈尔滨市", "道里区", "230102", "中央大街"),
    ("海南省海口市龙华区滨海大道", "海南省", "海口市", "龙华区", "460106", "滨海大道"),
    ("海南省三沙市西沙区永兴岛", "海南省", "三沙市", "西沙区", "460302", "永兴岛"),
    # 香港 / 澳门 / 台湾
    ("香港九龙城区太子道", "香港特别行政区", "香港特别行政区", "九龙城区", "810103", "太子道"),
    ("香港湾仔区轩尼诗道", "香港特别行政区", "香港特别行政区", "湾仔区", "810107", "轩尼诗道"),
    ("澳门花地玛堂区黑沙环", "澳门特别行政区", "澳门特别行政区", "花地玛堂区", "820008", "黑沙环"),
    ("台湾省台北市大安区忠孝东路", "台湾省", "台北市", "大安区", "710112", "忠孝东路"),
    # full-width characters, odd spacing
    ("浙江省　杭州市　西湖区　文三路１００号", "浙江省", "杭州市", "西湖区", "330106", "文三路100号"),
]


@pytest.mark.parametrize(("address", "province", "city", "district", "code", "detail"), ONE_LINE)
def test_one_line(address: str, province: str, city: str, district: str, code: str, detail: str) -> None:
    r = standardise(address=address)
    assert (r.ok, r.province, r.city, r.district, r.code, r.level, r.detail) == (
        True,
        province,
        city,
        district,
        code,
        "district",
        detail,
    ), r
    assert r.reason is None


@pytest.mark.parametrize(
    ("address", "city", "code"),
    [
        ("广东省东莞市长安镇振安路1号", "东莞市", "441900"),
        ("广东中山市石岐街道孙文中路", "中山市", "442000"),
        ("海南省儋州市那大镇", "儋州市", "460400"),
        ("甘肃省嘉峪关市雄关东路", "嘉峪关市", "620200"),
    ],
)
def test_city_without_districts(address: str, city: str, code: str) -> None:
    r = standardise(address=address)
    assert (r.ok, r.city, r.district, r.code, r.level) == (True, city, "", code, "city")


@pytest.mark.parametrize(
    ("address", "district", "code", "note"),
    [
        ("重庆市渝北区龙溪街道红锦大道", "两江新区", "500157", "渝北区"),
        ("重庆市江北区观音桥步行街", "两江新区", "500157", "江北区"),
        ("重庆渝北区统景镇", "北碚区", "500109", "统景镇现属北碚区"),
        ("重庆市北碚区水土街道", "两江新区", "500157", "水土街道现属两江新区"),
        ("重庆市北碚区天生街道", "北碚区", "500109", None),
        ("福建省三明市梅列区列东街", "三元区", "350404", "梅列区"),
        ("上海市崇明县城桥镇", "崇明区", "310151", "崇明县"),
    ],
)
def test_retired_and_renamed(address: str, district: str, code: str, note: str | None) -> None:
    r = standardise(address=address)
    assert (r.ok, r.district, r.code) == (True, district, code), r
    if note is None:
        assert r.message is None
    else:
        assert r.message is not None and note in r.message


def test_xiongan_counties_stay_under_baoding() -> None:
    r = standardise(address="河北省雄安新区容城县容城镇")
    assert (r.ok, r.city, r.district, r.code) == (True, "保定市", "容城县", "130629")
    r = standardise(address="河北雄安新区启动区1号")
    assert (r.ok, r.city, r.code, r.level) == (True, "雄安新区", "133100", "city")


# -- failures say what was understood --------------------------------------------------------------------------


def test_failure_keeps_what_was_understood() -> None:
    r = standardise(address="浙江省杭州市文三路100号")
    assert not r.ok and r.reason == BAD_ADDRESS
    assert r.understood == {"province": "浙江省", "city": "杭州市"}
    assert (r.province, r.city, r.district, r.code, r.level) == ("浙江省", "杭州市", "", "330100", "city")
    assert r.message is not None and "区县" in r.message

    r = standardise(address="浙江省不存在的地方100号")
    assert not r.ok and r.understood == {"province": "浙江省"} and (r.code, r.level) == ("330000", "province")

    r = standardise(address="北京朝阳门内大街1号")  # 朝阳门 is a street in 东城区, not 朝阳区
    assert not r.ok and r.understood == {"province": "北京市"}


def test_failure_nothing_understood() -> None:
    for address in ("", "   ", "文三路100号", "中山路123号", "长安街1号", "火星基地"):
        r = standardise(address=address)
        assert (r.ok, r.reason, r.understood, r.code, r.level) == (False, BAD_ADDRESS, {}, None, None), address
        assert r.message


def test_wrong_parent_is_reported() -> None:
    r = standardise(address="浙江省南京市鼓楼区中山路")
    assert not r.ok and r.understood == {"province": "浙江省"}
    assert r.message is not None and "南京市" in r.message and "不属于" in r.message
    r = standardise(address="江苏省南京市朝阳区中山路")
    assert not r.ok and r.understood == {"province": "江苏省", "city": "南京市"}
    assert r.message is not None and "朝阳区" in r.message


def test_ambiguous_names_list_candidates() -> None:
    r = standardise(address="朝阳区建国路1号")
    assert not r.ok and r.reason == BAD_ADDRESS and set(r.candidates) == {"110105", "220104"}
    assert r.message is not None and "北京市朝阳区" in r.message and "长春市朝阳区" in r.message
    r = standardise(address="鼓楼区中山路1号")
    assert set(r.candidates) == {"320106", "320302", "350102", "410204"}
    r = standardise(address="江苏省鼓楼区中山路1号")
    assert set(r.candidates) == {"320106", "320302"} and r.understood == {"province": "江苏省"}


def test_missing_detail_is_a_failure() -> None:
    r = standardise(address="浙江省杭州市西湖区")
    assert not r.ok and r.reason == BAD_ADDRESS and r.code == "330106"
    assert r.understood == {"province": "浙江省", "city": "杭州市", "district": "西湖区"}


# -- separate fields -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        (("上海", "上海市", "浦东新区", "张江路1号"), ("上海市", "上海市", "浦东新区", "310115", "张江路1号")),
        (("上海市", "市辖区", "浦东新区", "张江路1号"), ("上海市", "上海市", "浦东新区", "310115", "张江路1号")),
        (("重庆市", "县", "城口县", "葛城街道"), ("重庆市", "重庆市", "城口县", "500229", "葛城街道")),
        (("湖北省", "仙桃市", "郑场镇", "新场村"), ("湖北省", "仙桃市", "仙桃市", "429004", "郑场镇新场村")),
        (("湖北省", "仙桃市", "仙桃市", "郑场镇"), ("湖北省", "仙桃市", "仙桃市", "429004", "郑场镇")),
        (("河南省", "省直辖县级行政区划", "济源市", "沁园路"), ("河南省", "济源市", "济源市", "419001", "沁园路")),
        (("广东省", "东莞市", "长安镇", "振安路1号"), ("广东省", "东莞市", "", "441900", "长安镇振安路1号")),
        (("浙江省", "杭州市", "", "西湖区文三路1号"), ("浙江省", "杭州市", "西湖区", "330106", "文三路1号")),
        (
            ("浙江省", "杭州市", "西湖区", "浙江省杭州市西湖区文三路1号"),
            ("浙江省", "杭州市", "西湖区", "330106", "文三路1号"),
        ),
        (("", "南京市", "鼓楼区", "中山路1号"), ("江苏省", "南京市", "鼓楼区", "320106", "中山路1号")),
        (("", "北京市", "朝阳区", "建国路1号"), ("北京市", "北京市", "朝阳区", "110105", "建国路1号")),
        (("", "", "浦东新区", "张江路1号"), ("上海市", "上海市", "浦东新区", "310115", "张江路1号")),
        (
            ("新疆", "伊犁州", "伊宁市", "解放路"),
            ("新疆维吾尔自治区", "伊犁哈萨克自治州", "伊宁市", "654002", "解放路"),
        ),
        ((" 浙江省 ", "杭州市", "西湖区 ", " 文三路 1 号 "), ("浙江省", "杭州市", "西湖区", "330106", "文三路 1 号")),
    ],
)
def test_fields(fields: tuple[str, str, str, str], expected: tuple[str, str, str, str, str]) -> None:
    province, city, district, detail = fields
    r = standardise(province=province, city=city, district=district, detail=detail)
    assert r.ok, r
    assert (r.province, r.city, r.district, r.code, r.detail) == expected


@pytest.mark.parametrize(
    ("fields", "understood", "words"),
    [
        (("火星省", "", "", "1号"), {}, ("火星省",)),
        (("浙江省", "南京市", "鼓楼区", "1号"), {"province": "浙江省"}, ("南京市", "不属于")),
        (("江苏省", "南京市", "朝阳区", "1号"), {"province": "江苏省", "city": "南京市"}, ("朝阳区", "不属于")),
        (("江苏省", "南京市", "不存在区", "1号"), {"province": "江苏省", "city": "南京市"}, ("不存在区",)),
        (("", "", "鼓楼区", "1号"), {}, ("鼓楼区", "多处")),
        (("", "", "西湖区", "1号"), {}, ("浙江省杭州市西湖区", "江西省南昌市西湖区")),
        (("浙江省", "杭州市", "", "文三路1号"), {"province": "浙江省", "city": "杭州市"}, ("区县",)),
    ],
)
def test_fields_failures(fields: tuple[str, str, str, str], understood: dict[str, str], words: tuple[str, ...]) -> None:
    province, city, district, detail = fields
    r = standardise(province=province, city=city, district=district, detail=detail)
    assert not r.ok and r.reason == BAD_ADDRESS
    assert r.understood == understood
    assert r.message is not None and all(w in r.message for w in words), r.message


# -- phones ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "kind", "number", "extension"),
    [
        ("13800138000", "mobile", "13800138000", None),
        ("138 0013 8000", "mobile", "13800138000", None),
        ("138-0013-8000", "mobile", "13800138000", None),
        ("+86 138 0013 8000", "mobile", "13800138000", None),
        ("+86-13800138000", "mobile", "13800138000", None),
        ("8613800138000", "mobile", "13800138000", None),
        ("0086 13800138000", "mobile", "13800138000", None),
        ("013800138000", "mobile", "13800138000", None),
        ("１３８００１３８０００", "mobile", "13800138000", None),
        ("19912345678", "mobile", "19912345678", None),
        ("13800138000-1234", "privacy", "13800138000", "1234"),
        ("13800138000转1234", "privacy", "13800138000", "1234"),
        ("13800138000 转 1234", "privacy", "13800138000", "1234"),
        ("13800138000#1234", "privacy", "13800138000", "1234"),
        ("13800138000,1234", "privacy", "13800138000", "1234"),
        ("13800138000(1234)", "privacy", "13800138000", "1234"),
        ("+86 13800138000-1234", "privacy", "13800138000", "1234"),
        ("021-12345678", "landline", "021-12345678", None),
        ("02112345678", "landline", "021-12345678", None),
        ("(021)12345678", "landline", "021-12345678", None),
        ("0755 1234 5678", "landline", "0755-12345678", None),
        ("075512345678", "landline", "0755-12345678", None),
        ("010-8888888", "landline", "010-8888888", None),
        ("0571-88888888-808", "landline", "0571-88888888", "808"),
        ("0571-88888888转808", "landline", "0571-88888888", "808"),
        ("0571 8888 8888 ext 12", "landline", "0571-88888888", "12"),
        ("+86 21 12345678", "landline", "021-12345678", None),
        ("+86-755-12345678", "landline", "0755-12345678", None),
    ],
)
def test_phone(raw: str, kind: str, number: str, extension: str | None) -> None:
    r = normalise_phone(raw)
    assert (r.ok, r.kind, r.number, r.extension, r.reason) == (True, kind, number, extension, None), r


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "   ",
        "138****8000",
        "1380013800",  # 10 digits
        "138001380001",  # 12 digits, no separator
        "12345678",  # landline without area code
        "011-12345678",  # no such area code
        "021-123456",  # local number too short
        "400-123-4567",
        "+852 6123 4567",
        "13800138000-1234567",  # extension too long
        "13800138000转abc",
        "电话13800138000",
    ],
)
def test_bad_phone(raw: str) -> None:
    r = normalise_phone(raw)
    assert (r.ok, r.reason, r.kind, r.number) == (False, BAD_PHONE, None, ""), r
    assert r.message


# -- the data build --------------------------------------------------------------------------------------------


def test_build_rows_from_source_csv() -> None:
    csv_text = "\n".join(
        [
            "adcode,name,longitude,latitude",
            "410000000000,河南省,1,2",
            "410100000000,郑州市,1,2",
            "410102000000,中原区,1,2",
            "419001000000,济源市,1,2",
            "460000000000,海南省,1,2",
            "460300000000,三沙市,,",
            "990000000000,苏鲁交界,,",
        ]
    )
    rows = build_rows(csv_text)
    assert ("419001", "济源市", "410000") in rows  # province-administered: parent is the province
    assert ("410102", "中原区", "410100") in rows
    assert ("460302", "西沙区", "460300") in rows  # supplement
    assert not any(code == "990000" for code, _, _ in rows)
    parsed = load_divisions(render(rows))
    assert {d.code: d.level for d in parsed}["419001"] == "district"


@pytest.mark.parametrize(
    ("kwargs", "city", "code", "detail"),
    [
        ({"address": "河南省郑州市郑东新区中山路574号"}, "郑州市", "410100", "郑东新区中山路574号"),
        ({"address": "四川 成都市 高新区 体育路373号"}, "成都市", "510100", "高新区 体育路373号"),
        (
            {"province": "江苏省", "city": "苏州市", "district": "工业园区", "detail": "星湖街1号"},
            "苏州市",
            "320500",
            "工业园区星湖街1号",
        ),
    ],
)
def test_functional_zones_resolve_at_city_level(kwargs: dict[str, str], city: str, code: str, detail: str) -> None:
    result = standardise(**kwargs)
    assert result.ok and (result.city, result.district, result.code, result.level) == (city, "", code, "city")
    assert result.detail.replace(" ", "") == detail.replace(" ", "")
    assert result.message and "功能区" in result.message
