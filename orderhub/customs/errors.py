"""The customs context's error codes (see :class:`orderhub.errors.ErrorCode`)."""

from __future__ import annotations

from orderhub.errors import ErrorCode

__all__ = ["CustomsError"]


class CustomsError(ErrorCode):
    """Customs: SKUs' declaration data, destination rule packs, their spreadsheet import."""

    INVALID_HS_CODE = "invalid_hs_code", "HS 编码应为 6–10 位数字", "An HS code is not 6 to 10 digits."
    INVALID_COUNTRY = (
        "invalid_country",
        "国家代码应为 ISO 3166-1 两位字母代码（如 TH、MY、VN）",
        "A country is not an ISO 3166-1 alpha-2 code.",
    )
    INVALID_CURRENCY = (
        "invalid_currency",
        "币种应为 ISO 4217 三位字母代码（如 CNY、THB）",
        "A currency is not an ISO 4217 code.",
    )
    INVALID_LANGUAGE = (
        "invalid_language",
        "语言应为 ISO 639-1 两位小写字母代码（如 th、ms、vi）",
        "A language is not ISO 639-1.",
    )
    INVALID_CUSTOMS_VALUE = (
        "invalid_customs_value",
        "申报价值或文字不合法",
        "A declared value, name or certificate is out of range.",
    )
    SKU_CUSTOMS_NOT_FOUND = (
        "sku_customs_not_found",
        "该商品还没有报关资料",
        "The SKU exists but has no customs data yet.",
    )
    INVALID_RULE_PACK = (
        "invalid_rule_pack",
        "规则包内容不合法",
        "A rule pack version is invalid (unknown field, bad regular expression, rate out of range …); `field` "
        "names the part.",
    )
    RULE_PACK_NOT_FOUND = (
        "rule_pack_not_found",
        "该目的国在此日期没有生效的规则包",
        "No rule pack of the destination is in force then.",
    )
    IMPORT_FILE_INVALID = (
        "customs_import_invalid",
        "报关资料表格无法导入：缺少商品编码列，或没有可识别的列",
        "The customs spreadsheet has no SKU column or no column the import knows.",
    )
    IMPORT_DUPLICATE_ROW = (
        "customs_import_duplicate_row",
        "同一商品在表格中出现多次",
        "A SKU appears on more than one row of a customs spreadsheet; the later rows are refused.",
    )
    IMPORT_CURRENCY_WITHOUT_VALUE = (
        "customs_import_currency_without_value",
        "改了申报币种却没有填写申报单价：请在同一行填写新币种下的申报单价",
        "A customs spreadsheet row changes a SKU's declared currency without giving the unit value in the new "
        "currency (the old value is in the old currency's minor units); the row is refused.",
    )
    INVALID_UNIT_VALUE = (
        "invalid_unit_value",
        "申报单价应为非负数，小数位不超过币种的最小单位",
        "A declared unit value (major units in a spreadsheet) is not a non-negative amount of the currency.",
    )
