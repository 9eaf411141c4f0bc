"""ERP / spreadsheet import, the pure part: reading CSV/XLSX, mapping guesses and checks, rows → orders."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime
from typing import Any

import openpyxl
import pytest

from orderhub.channels.erp_file import parser
from orderhub.channels.erp_file.parser import (
    FIELDS,
    MAX_BYTES,
    MAX_ROWS,
    RowErrorCode,
    Table,
    build_orders,
    parse_amount,
    parse_qty,
    parse_time,
    preview,
    read_table,
    suggest_mapping,
    validate_mapping,
)
from orderhub.errors import ValidationFailed

HEADERS = ["订单号", "下单时间", "收货人", "手机", "省", "市", "区", "详细地址", "商家编码", "数量", "单价", "实付金额"]
MAPPING = {
    "订单号": "external_id",
    "下单时间": "placed_at",
    "收货人": "receiver_name",
    "手机": "receiver_phone",
    "省": "receiver_province",
    "市": "receiver_city",
    "区": "receiver_district",
    "详细地址": "receiver_detail",
    "商家编码": "sku",
    "数量": "qty",
    "单价": "unit_price",
    "实付金额": "paid_amount",
}


def create_row(**overrides: str) -> list[str]:
    values = {
        "订单号": "T1001",
        "下单时间": "2026-11-20 10:00:00",
        "收货人": "张三",
        "手机": "13800138000",
        "省": "广东省",
        "市": "深圳市",
        "区": "南山区",
        "详细地址": "科技园南区 1 栋 101",
        "商家编码": "SKU-A",
        "数量": "1",
        "单价": "12.30",
        "实付金额": "12.30",
    }
    values.update(overrides)
    return [values[h] for h in HEADERS]


def create_csv(rows: list[list[str]], *, headers: list[str] = HEADERS, delimiter: str = ",") -> str:
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter, lineterminator="\r\n")
    writer.writerow(headers)
    writer.writerows(rows)
    return out.getvalue()


def create_table(rows: list[list[str]], *, headers: list[str] = HEADERS) -> Table:
    return Table(headers=headers, rows=rows, row_numbers=list(range(2, len(rows) + 2)))


def create_xlsx(rows: list[list[Any]], *, hidden_first: bool = False) -> bytes:
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    if hidden_first:
        sheet.title = "说明"
        sheet.append(["这张表是隐藏的"])
        sheet.sheet_state = "hidden"
        sheet = book.create_sheet("订单")
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


# ---------------------------------------------------------------------------------------------------------------
# read_table
# ---------------------------------------------------------------------------------------------------------------


def test_csv_utf8_with_bom() -> None:
    data = create_csv([create_row(), create_row(订单号="T1002")]).encode("utf-8-sig")
    table = read_table(data, "orders.csv")
    assert table.headers == HEADERS
    assert [row[0] for row in table.rows] == ["T1001", "T1002"]
    assert table.row_numbers == [2, 3]


def test_csv_utf8_without_bom_and_stripped_headers() -> None:
    data = " 订单号 ,收货人\nT1, 张三 \n".encode()
    table = read_table(data, "orders.csv")
    assert table.headers == ["订单号", "收货人"]
    assert table.rows == [["T1", "张三"]]


def test_csv_gb18030() -> None:
    data = create_csv([create_row(收货人="欧阳娜娜", 详细地址="龘𠀀路 8 号")]).encode("gb18030")
    table = read_table(data, "导出.csv")
    assert table.headers == HEADERS
    assert table.rows[0][2] == "欧阳娜娜"
    assert table.rows[0][7] == "龘𠀀路 8 号"


def test_tab_separated_with_commas_in_cells() -> None:
    data = create_csv([create_row(详细地址="科技园, 1 栋")], delimiter="\t").encode()
    table = read_table(data, "orders.txt")
    assert table.headers == HEADERS
    assert table.rows[0][7] == "科技园, 1 栋"


def test_semicolon_separated() -> None:
    data = create_csv([create_row()], delimiter=";").encode()
    assert read_table(data, "orders.csv").headers == HEADERS


def test_utf16_unicode_text_export() -> None:
    data = create_csv([create_row()], delimiter="\t").encode("utf-16")
    assert read_table(data, "orders.txt").rows[0][0] == "T1001"


def test_empty_rows_dropped_row_numbers_kept_and_rows_padded() -> None:
    data = "订单号,收货人,备注\nT1,张三\n,,\n\nT2,李四,急\n".encode()
    table = read_table(data, "a.csv")
    assert table.rows == [["T1", "张三", ""], ["T2", "李四", "急"]]
    assert table.row_numbers == [2, 5]


def test_blank_and_repeated_headers_get_stable_names() -> None:
    data = "备注,,备注,数量\n1,2,3,4\n".encode()
    assert read_table(data, "a.csv").headers == ["备注", "列B", "备注_2", "数量"]


def test_cells_protected_from_excel_are_unwrapped() -> None:
    data = '订单号,手机\n="2026112212345678",\'13800138000\n'.encode()
    assert read_table(data, "a.csv").rows == [["2026112212345678", "13800138000"]]


def test_quoted_newline_is_one_row() -> None:
    data = '订单号,买家留言\nT1,"第一行\n第二行"\nT2,好\n'.encode()
    table = read_table(data, "a.csv")
    assert table.rows == [["T1", "第一行\n第二行"], ["T2", "好"]]
    assert table.row_numbers == [2, 3]


def test_xlsx_numbers_dates_and_row_numbers() -> None:
    data = create_xlsx(
        [
            ["订单号", " 下单时间 ", "手机", "单价", "数量", "日期"],
            [2026112200001, datetime(2026, 11, 20, 10, 0, 0), 13800138000, 12.3, 2, date(2026, 11, 20)],
            [None, None, None, None, None, None],
            ["T-2", "2026/11/20 11:00", "13900139000", 0.1 + 0.2, 1.0, None],
            [123456789012345678, None, None, 1e20, None, None],
        ]
    )
    table = read_table(data, "orders.xlsx")
    assert table.headers == ["订单号", "下单时间", "手机", "单价", "数量", "日期"]
    assert table.rows[0] == ["2026112200001", "2026-11-20 10:00:00", "13800138000", "12.3", "2", "2026-11-20"]
    assert table.rows[1] == ["T-2", "2026/11/20 11:00", "13900139000", "0.3", "1", ""]
    assert table.rows[2][3] == "100000000000000000000"  # never 1e+20
    assert "e" not in table.rows[2][0].lower()
    assert table.row_numbers == [2, 4, 5]


def test_xlsx_first_visible_sheet() -> None:
    data = create_xlsx([["订单号"], ["T1"]], hidden_first=True)
    assert read_table(data, "a.xlsx").rows == [["T1"]]


def test_xlsx_detected_by_content_not_name() -> None:
    data = create_xlsx([["订单号"], ["T1"]])
    assert read_table(data, "upload.csv").rows == [["T1"]]


def test_xlsx_end_to_end_into_orders() -> None:
    data = create_xlsx(
        [
            HEADERS,
            [
                "T1",
                datetime(2026, 11, 20, 10, 0),
                "张三",
                13800138000,
                "广东省",
                "深圳市",
                "南山区",
                "1 栋",
                "A",
                2,
                12.3,
                24.6,
            ],
            [
                "T1",
                datetime(2026, 11, 20, 10, 0),
                "张三",
                13800138000,
                "广东省",
                "深圳市",
                "南山区",
                "1 栋",
                "B",
                1,
                0,
                24.6,
            ],
        ]
    )
    plan = build_orders(read_table(data, "a.xlsx"), MAPPING)
    assert plan.errors == []
    [(rows, order)] = plan.orders
    assert rows == [2, 3]
    assert order.receiver.phone == "13800138000"
    assert order.paid_amount == 2460
    assert [(line.sku, line.qty, line.unit_price) for line in order.lines] == [("A", 2, 1230), ("B", 1, 0)]


@pytest.mark.parametrize(
    ("data", "filename"),
    [
        (b"PK\x03\x04 not really a zip", "a.xlsx"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1 garbage", "a.xls"),
        ("订单号\nT1\n".encode(), "a.xlsx"),  # an .xlsx that is not a workbook
        (b"", "a.csv"),
        (b"  \r\n ", "a.csv"),
        (b"\x00\x01\x02\x03binary\x00", "a.csv"),
        (b"\xff\xfe\x00", "a.csv"),  # a UTF-16 BOM and an odd byte
    ],
)
def test_unreadable_files(data: bytes, filename: str) -> None:
    with pytest.raises(ValidationFailed) as info:
        read_table(data, filename)
    assert info.value.field == "file"
    assert info.value.message


def test_file_size_limit() -> None:
    data = b"a,b\n" + b"x" * MAX_BYTES
    with pytest.raises(ValidationFailed) as info:
        read_table(data, "a.csv")
    assert info.value.field == "file"
    assert "5 MB" in info.value.message


def test_row_limit() -> None:
    ok = "订单号\n" + "T\n" * MAX_ROWS
    assert len(read_table(ok.encode(), "a.csv").rows) == MAX_ROWS
    with pytest.raises(ValidationFailed) as info:
        read_table((ok + "T\n").encode(), "a.csv")
    assert info.value.field == "file"
    assert str(MAX_ROWS) in info.value.message


def test_blank_lines_do_not_count_towards_the_row_limit() -> None:
    data = "订单号\n" + "\n" * (MAX_ROWS + 10) + "T\n"
    table = read_table(data.encode(), "a.csv")
    assert table.row_numbers == [MAX_ROWS + 12]


def test_column_limit() -> None:
    data = ",".join(f"c{i}" for i in range(parser.MAX_COLUMNS + 1)) + "\n"
    with pytest.raises(ValidationFailed) as info:
        read_table(data.encode(), "a.csv")
    assert info.value.field == "file"


# ---------------------------------------------------------------------------------------------------------------
# values
# ---------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "fen"),
    [
        ("12.3", 1230),
        ("12.30", 1230),
        ("12.300", 1230),
        ("12", 1200),
        ("0", 0),
        ("¥12.30", 1230),
        ("￥12.30", 1230),
        ("1,234.50", 123450),
        ("12.30元", 1230),
        (" 0.01 ", 1),
        ("-0", 0),
        ("１２．３０", 1230),
    ],
)
def test_parse_amount(text: str, fen: int) -> None:
    assert parse_amount(text) == fen


@pytest.mark.parametrize("text", ["-1", "¥-1.00", "12.345", "0.001", "abc", "12,30", "1e3", "NaN", "1.2.3", ""])
def test_parse_amount_refuses(text: str) -> None:
    with pytest.raises(ValueError):
        parse_amount(text)


@pytest.mark.parametrize(("text", "qty"), [("1", 1), ("3.0", 3), (" 12 ", 12), ("+2", 2)])
def test_parse_qty(text: str, qty: int) -> None:
    assert parse_qty(text) == qty


@pytest.mark.parametrize("text", ["abc", "0", "-1", "1.5", "", "10000000"])
def test_parse_qty_refuses(text: str) -> None:
    with pytest.raises(ValueError):
        parse_qty(text)


@pytest.mark.parametrize(
    "text",
    [
        "2026-11-22 10:00:00",
        "2026/11/22 10:00",
        "2026-11-22T10:00:00+08:00",
        "2026-11-22T02:00:00Z",
        "2026-11-22 10:00:00.000",
        "2026年11月22日 10:00:00",
        "2026/11/22 10:00:00 +0800",
    ],
)
def test_parse_time(text: str) -> None:
    value = parse_time(text)
    assert value == datetime(2026, 11, 22, 2, 0, tzinfo=UTC)
    assert value.tzinfo is not None


def test_parse_time_date_only_and_other_zone() -> None:
    assert parse_time("2026-11-22") == datetime(2026, 11, 21, 16, 0, tzinfo=UTC)
    assert parse_time("2026-11-22 10:00", tz=UTC) == datetime(2026, 11, 22, 10, 0, tzinfo=UTC)


@pytest.mark.parametrize("text", ["2026-13-01 10:00", "yesterday", "46348.41", "2026-11-22 25:00", ""])
def test_parse_time_refuses(text: str) -> None:
    with pytest.raises(ValueError):
        parse_time(text)


# ---------------------------------------------------------------------------------------------------------------
# mapping
# ---------------------------------------------------------------------------------------------------------------


def test_fields_have_labels_and_required_flags() -> None:
    assert FIELDS["external_id"].label == "订单号"
    assert {name for name, spec in FIELDS.items() if spec.required} == {
        "external_id",
        "placed_at",
        "receiver_name",
        "receiver_phone",
        "sku",
        "qty",
        "paid_amount",
    }


def test_suggest_mapping_wangdiantong_export() -> None:
    headers = [
        "订单编号", "原始单号", "店铺名称", "订单状态", "下单时间", "付款时间", "客户网名", "收件人", "收件人手机",
        "收件人电话", "省", "市", "区", "地址", "商家编码", "货品名称", "货品数量", "商品单价", "实收金额(元)",
        "邮费", "优惠金额", "买家留言", "客服备注",
    ]  # fmt: skip
    mapping = suggest_mapping(headers)
    assert mapping == {
        "原始单号": "external_id",
        "下单时间": "placed_at",
        "付款时间": "paid_at",
        "客户网名": "buyer_nick",
        "收件人": "receiver_name",
        "收件人手机": "receiver_phone",
        "省": "receiver_province",
        "市": "receiver_city",
        "区": "receiver_district",
        "地址": "receiver_detail",
        "商家编码": "sku",
        "货品数量": "qty",
        "商品单价": "unit_price",
        "实收金额(元)": "paid_amount",
        "邮费": "shipping_fee",
        "优惠金额": "discount",
        "买家留言": "buyer_memo",
        "客服备注": "seller_memo",
    }
    validate_mapping(mapping, headers)


def test_suggest_mapping_jushuitan_export() -> None:
    headers = [
        "内部订单号", "线上订单号", "店铺", "下单时间", "付款日期", "买家账号", "收货人", "收货地址", "手机", "电话",
        "商品编码", "商品名称", "数量", "单价", "商品金额", "运费", "优惠金额", "应付金额", "已付金额", "买家留言",
        "卖家备注",
    ]  # fmt: skip
    mapping = suggest_mapping(headers)
    assert mapping["线上订单号"] == "external_id"
    assert "内部订单号" not in mapping
    assert mapping["收货地址"] == "receiver_address"
    assert mapping["手机"] == "receiver_phone"
    assert "电话" not in mapping
    assert mapping["商品编码"] == "sku"
    assert mapping["商品金额"] == "line_amount"
    assert mapping["已付金额"] == "paid_amount"
    assert "应付金额" not in mapping
    assert mapping["付款日期"] == "paid_at"
    assert mapping["卖家备注"] == "seller_memo"
    validate_mapping(mapping, headers)


def test_suggest_mapping_english_and_address_without_province() -> None:
    headers = ["Order ID", "Created At", "Receiver Name", "Phone", "Address", "SKU", "Qty", "Unit Price", "Paid"]
    assert suggest_mapping(headers) == {
        "Order ID": "external_id",
        "Created At": "placed_at",
        "Receiver Name": "receiver_name",
        "Phone": "receiver_phone",
        "Address": "receiver_address",
        "SKU": "sku",
        "Qty": "qty",
        "Unit Price": "unit_price",
        "Paid": "paid_amount",
    }
    # 详细地址 alone (no province column) is taken as the full address
    assert suggest_mapping(["订单号", "详细地址"]) == {"订单号": "external_id", "详细地址": "receiver_address"}


def test_synonyms_are_unambiguous() -> None:
    seen: dict[str, str] = {}
    for field, names in parser._SYNONYMS.items():
        assert field in FIELDS
        for name in names:
            assert name == parser._norm_header(name)
            assert seen.setdefault(name, field) == field, name


def test_validate_mapping_accepts_full_address_and_ignored_columns() -> None:
    headers = [*HEADERS, "完整地址", "备用"]
    mapping = {k: v for k, v in MAPPING.items() if k not in {"省", "市", "区", "详细地址"}}
    validate_mapping({**mapping, "完整地址": "receiver_address", "备用": ""}, headers)


@pytest.mark.parametrize(
    ("change", "field", "fragment"),
    [
        ({"不存在": "buyer_memo"}, "mapping.不存在", "不存在"),
        ({"区": "receiver_town"}, "mapping.区", "receiver_town"),
        ({"区": "receiver_city"}, "mapping.区", "多次"),
        ({"实付金额": ""}, "mapping", "实付金额"),
        ({"详细地址": ""}, "mapping", "收货地址"),
    ],
)
def test_validate_mapping_errors(change: dict[str, str], field: str, fragment: str) -> None:
    with pytest.raises(ValidationFailed) as info:
        validate_mapping({**MAPPING, **change}, HEADERS)
    assert info.value.field == field
    assert fragment in info.value.message
    assert info.value.extra["problems"][0] == {"field": field, "message": info.value.message}


def test_validate_mapping_reports_every_problem() -> None:
    with pytest.raises(ValidationFailed) as info:
        validate_mapping({"订单号": "external_id", "不存在": "sku"}, HEADERS)
    fields = [p["field"] for p in info.value.extra["problems"]]
    assert fields[0] == "mapping.不存在"
    assert fields.count("mapping") == 6  # placed_at, receiver_name/phone, qty, paid_amount, address


# ---------------------------------------------------------------------------------------------------------------
# build_orders
# ---------------------------------------------------------------------------------------------------------------


def test_rows_of_one_order_become_one_order_with_lines() -> None:
    table = create_table(
        [
            create_row(商家编码="SKU-A", 数量="2", 单价="12.30", 实付金额="30.00"),
            create_row(订单号="T1002", 实付金额="¥1,234.50"),
            create_row(商家编码="SKU-B", 数量="1", 单价="5.4", 实付金额="30"),  # not adjacent, same order
        ]
    )
    plan = build_orders(table, MAPPING)
    assert plan.errors == []
    assert [(rows, order.external_id) for rows, order in plan.orders] == [([2, 4], "T1001"), ([3], "T1002")]
    order = plan.orders[0][1]
    assert [(line.sku, line.qty, line.unit_price) for line in order.lines] == [("SKU-A", 2, 1230), ("SKU-B", 1, 540)]
    assert order.paid_amount == 3000
    assert order.placed_at == datetime(2026, 11, 20, 2, 0, tzinfo=UTC)
    assert order.paid_at is None
    assert order.receiver.detail == "科技园南区 1 栋 101"
    assert order.raw["rows"][1]["商家编码"] == "SKU-B"
    assert order.raw["row_numbers"] == [2, 4]
    assert plan.orders[1][1].paid_amount == 123450


def test_bad_rows_are_reported_and_other_orders_built() -> None:
    table = Table(
        headers=HEADERS,
        rows=[
            create_row(订单号="OK1"),
            create_row(订单号="BAD-QTY", 数量="abc"),
            create_row(订单号="BAD-PRICE", 单价="12.345"),
            create_row(订单号="NO-RECEIVER", 收货人=""),
            create_row(订单号="OK2"),
        ],
        row_numbers=[2, 3, 5, 6, 9],  # an empty row was dropped between 3 and 5
    )
    plan = build_orders(table, MAPPING)
    assert [order.external_id for _, order in plan.orders] == ["OK1", "OK2"]
    assert [(e.row, e.external_id, e.field, e.code, e.column) for e in plan.errors] == [
        (3, "BAD-QTY", "qty", "invalid_qty", "数量"),
        (5, "BAD-PRICE", "unit_price", "invalid_amount", "单价"),
        (6, "NO-RECEIVER", "receiver_name", "required", "收货人"),
    ]
    assert plan.errors[2].message == "收货人不能为空"


def test_one_bad_line_rejects_the_whole_order() -> None:
    table = create_table([create_row(), create_row(商家编码="SKU-B", 数量="0"), create_row(订单号="T2")])
    plan = build_orders(table, MAPPING)
    assert [order.external_id for _, order in plan.orders] == ["T2"]
    assert [(e.row, e.code) for e in plan.errors] == [(2, "order_rejected"), (3, "invalid_qty")]
    assert "第 3 行" in plan.errors[0].message


def test_conflicting_rows_of_one_order_are_both_rejected() -> None:
    table = create_table(
        [
            create_row(),
            create_row(商家编码="SKU-B", 收货人="李四"),
            create_row(订单号="T2"),
            create_row(订单号="T2", 实付金额="99.00"),
            create_row(订单号="T3"),
            create_row(订单号="T3", 商家编码="SKU-B", 实付金额="12.3", 手机=" 13800138000"),  # same values
        ]
    )
    plan = build_orders(table, MAPPING)
    assert [(rows, order.external_id) for rows, order in plan.orders] == [([6, 7], "T3")]
    assert [(e.row, e.external_id, e.field, e.code) for e in plan.errors] == [
        (2, "T1001", "", RowErrorCode.ORDER_REJECTED.value),
        (3, "T1001", "receiver_name", "conflict"),
        (4, "T2", "", "order_rejected"),
        (5, "T2", "paid_amount", "conflict"),
    ]
    assert "张*" in plan.errors[1].message and "李*" in plan.errors[1].message  # kept with the job: masked


def test_blank_order_fields_on_later_rows_continue_the_order() -> None:
    blank = dict.fromkeys(HEADERS, "")
    table = create_table(
        [
            create_row(),
            [*[blank[h] for h in HEADERS[:8]], "SKU-B", "3", "1.00", ""],  # merged cells: only the line is filled
            create_row(订单号="T2", 收货人="", 手机="", 省="", 市="", 区="", 详细地址="", 实付金额=""),
            [*[blank[h] for h in HEADERS[:2]], "王五", *[""] * 9],  # no order number, but order-level data
        ]
    )
    plan = build_orders(table, MAPPING)
    [(rows, order)] = plan.orders
    assert rows == [2, 3]
    assert [(line.sku, line.qty) for line in order.lines] == [("SKU-A", 1), ("SKU-B", 3)]
    assert [(e.row, e.field, e.code) for e in plan.errors if e.row == 5] == [(5, "external_id", "required")]
    assert {e.field for e in plan.errors if e.row == 4} >= {"receiver_name", "receiver_phone", "paid_amount"}


def test_order_level_values_and_line_amount() -> None:
    headers = ["订单号", "下单时间", "付款时间", "买家昵称", "收货人", "电话", "地址", "SKU", "数量", "小计", "运费",
               "优惠", "实付", "买家留言", "卖家备注"]  # fmt: skip
    mapping = suggest_mapping(headers)
    assert mapping["小计"] == "line_amount"
    row = ["T9", "2026-11-20T10:00:00+08:00", "2026/11/20 10:05", "小明", "张三", "138-0013-8000",
           "北京市朝阳区建国路 1 号", "A", "3", "10.00", "6", "1.5", "14.50", "要发顺丰", "老客户"]  # fmt: skip
    plan = build_orders(create_table([row], headers=headers), mapping)
    assert plan.errors == []
    order = plan.orders[0][1]
    assert order.lines[0].unit_price == 333  # 10.00 / 3, half-up at the fen
    assert (order.shipping_fee, order.discount, order.paid_amount) == (600, 150, 1450)
    assert order.paid_at == datetime(2026, 11, 20, 2, 5, tzinfo=UTC)
    assert (order.buyer_nick, order.buyer_memo, order.seller_memo) == ("小明", "要发顺丰", "老客户")
    assert order.receiver.address == "北京市朝阳区建国路 1 号"


def test_bad_times_and_scientific_notation() -> None:
    table = create_table(
        [
            create_row(订单号="T1", 下单时间="昨天"),
            create_row(订单号="T2", 手机="1.38001E+10"),
            create_row(订单号="T3", 下单时间="1999-01-01 00:00:00"),  # parsed, refused by check_new_order
        ]
    )
    plan = build_orders(table, MAPPING)
    assert plan.orders == []
    assert [(e.row, e.field, e.code) for e in plan.errors] == [
        (2, "placed_at", "invalid_time"),
        (3, "receiver_phone", "scientific_notation"),
        (4, "placed_at", "invalid_order"),
    ]


def test_build_orders_refuses_a_bad_mapping() -> None:
    with pytest.raises(ValidationFailed) as info:
        build_orders(create_table([create_row()]), {"订单号": "external_id"})
    assert info.value.field == "mapping"


def test_build_orders_with_other_time_zone() -> None:
    plan = build_orders(create_table([create_row()]), MAPPING, tz=UTC)
    assert plan.orders[0][1].placed_at == datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


# ---------------------------------------------------------------------------------------------------------------
# preview
# ---------------------------------------------------------------------------------------------------------------


def test_preview_suggests_a_mapping_and_limits_rows() -> None:
    table = create_table([create_row(订单号=f"T{i}") for i in range(30)])
    result = preview(table, None, limit=5)
    assert result.headers == HEADERS
    assert result.mapping == {**MAPPING, "详细地址": "receiver_detail"}
    assert result.row_count == 30
    assert len(result.rows) == 5
    assert result.rows[0]["订单号"] == "T0"
    assert result.row_numbers == [2, 3, 4, 5, 6]
    assert result.missing_fields == []


def test_preview_keeps_the_given_mapping() -> None:
    result = preview(create_table([create_row()]), {"订单号": "external_id"})
    assert result.mapping == {"订单号": "external_id"}
    assert "paid_amount" in result.missing_fields and "receiver_address" in result.missing_fields
    assert len(result.rows) == 1
