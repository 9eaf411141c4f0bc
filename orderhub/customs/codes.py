"""ISO code lists the customs data is checked against: countries (ISO 3166-1 alpha-2), currencies (ISO 4217, with
their minor-unit exponent) and the zh-CN names of the languages a declaration may need. Pure data."""

from __future__ import annotations

from decimal import Decimal
from typing import Final

__all__ = [
    "COUNTRIES",
    "CURRENCY_EXPONENTS",
    "LANGUAGE_NAMES",
    "is_country",
    "is_currency",
    "minor_exponent",
    "to_major",
]

# ISO 3166-1 alpha-2, officially assigned codes (249), as published by the ISO 3166 Maintenance Agency.
COUNTRIES: Final = frozenset(
    """
    AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS BT BV BW BY BZ
    CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO
    FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE
    JM JO JP KE KG KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO
    MP MQ MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW
    PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM
    TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW
    """.split()
)

# ISO 4217 active codes → number of minor-unit digits (CNY 2: fen; THB 2: satang; VND 0; JPY 0; KWD 3 …).
CURRENCY_EXPONENTS: Final[dict[str, int]] = {
    **dict.fromkeys(
        """
        AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BMD BND BOB BRL BSD BTN BWP BYN BZD CAD CDF CHF
        CNY COP CRC CUP CZK DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD GTQ GYD HKD HNL HTG HUF IDR ILS
        INR IRR JMD KES KGS KHR KPW KYD KZT LAK LBP LKR LRD LSL MAD MDL MKD MMK MNT MOP MRU MUR MVR MWK MXN MYR MZN
        NAD NGN NIO NOK NPR NZD PAB PEN PGK PHP PKR PLN QAR RON RSD RUB SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP
        STN SVC SYP SZL THB TJS TMT TOP TRY TTD TWD TZS UAH USD UYU UZS VES WST XCD YER ZAR ZMW ZWL
        """.split(),
        2,
    ),
    **dict.fromkeys("BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX VND VUV XAF XOF XPF".split(), 0),
    **dict.fromkeys("BHD IQD JOD KWD LYD OMR TND".split(), 3),
}

# ISO 639-1 → the language's zh-CN name, for messages such as 「缺少泰文品名」.
LANGUAGE_NAMES: Final[dict[str, str]] = {
    "th": "泰文",
    "ms": "马来文",
    "vi": "越南文",
    "id": "印尼文",
    "en": "英文",
    "zh": "中文",
    "ja": "日文",
    "ko": "韩文",
    "km": "柬埔寨文",
    "lo": "老挝文",
    "my": "缅甸文",
    "tl": "菲律宾文",
}


def is_country(code: str) -> bool:
    return code in COUNTRIES


def is_currency(code: str) -> bool:
    return code in CURRENCY_EXPONENTS


def minor_exponent(currency: str) -> int:
    """Digits of the currency's minor unit (2 when unknown): CNY/THB 2, JPY/VND 0, KWD/BHD 3. The one table every
    amount in minor units is read by — the estimate, the customs documents and the carriers' declarations."""
    return CURRENCY_EXPONENTS.get(currency.strip().upper(), 2)


def to_major(amount: int, currency: str) -> Decimal:
    """``amount`` minor units of ``currency`` as an exact decimal of major units: 12345 THB → 123.45, 5000 VND →
    5000, 12345 KWD → 12.345 (the exponent's digits, so ``f"{value:,f}"`` shows them all)."""
    return Decimal(amount).scaleb(-minor_exponent(currency))
