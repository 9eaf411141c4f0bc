"""Error codes of the settlement file import (``orderhub.channels.erp_file.settlements`` and its saved mappings)."""

from __future__ import annotations

from orderhub.errors import ErrorCode

__all__ = ["SettlementFileError"]


class SettlementFileError(ErrorCode):
    """Settlement file import: a platform's exported bill, its column mapping and the saved mappings."""

    FILE_INVALID = (
        "settlement_file_invalid",
        "结算文件有错误，未导入任何数据",
        "Rows of the settlement file do not map (each with its row, column and reason in `errors`); nothing stored.",
    )
    MAPPING_NOT_FOUND = "settlement_mapping_not_found", "找不到该结算映射", "No saved settlement mapping has this id."
    MAPPING_NAME_TAKEN = (
        "settlement_mapping_name_taken",
        "已有同名的结算映射",
        "Another saved settlement mapping has this name.",
    )
    PRESET_UNKNOWN = "settlement_preset_unknown", "没有这个内置映射", "The preset name is not one of the built-in ones."
    MAPPING_REQUIRED = (
        "settlement_mapping_required",
        "请指定内置映射（preset）或已保存的映射（mapping_id），二选一",
        "An import names exactly one of `preset`, `mapping_id` (or gives `mapping` itself).",
    )
