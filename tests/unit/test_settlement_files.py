"""Settlement file import, the pure part: each preset on a sample in its platform's layout (GBK zip, XLSX with a title
row, GBK CSV, UTF-8-BOM CSV), amounts to the fen, Chinese text intact, bad rows refused with row and column."""

from __future__ import annotations

from datetime import UTC, date, datetime

import msgspec
import pytest

from orderhub.channels.erp_file.settlements import (
    PRESETS,
    AmountColumn,
    SettlementMapping,
    decode_mapping,
    parse_settlement_file,
)
from orderhub.errors import ValidationFailed
from orderhub.finance.port import LineKind
from tests.support import settlement_files as sf

TID = "3299194706518006493"
TID2 = "3299194706518006494"


def _alipay_rows() -> list[list[str]]:
    return [
        # a sale: income, 商户订单号 T200P<tid>
        [
            "20261201100000001",
            "2026120122001100001",
            f"T200P{TID}",
            "纯棉T恤 白色 XL",
            "2026-12-01 10:00:01",
            "买家 (buyer@example.com)",
            "199.00",
            "0.00",
            "10199.00",
            "支付宝",
            "交易付款",
            "淘宝交易付款",
        ],
        # fees naming the order in the memo
        [
            "20261201100000002",
            "2026120122001100002",
            "",
            "",
            "2026-12-01 10:00:05",
            "天猫 (tmall@alipay.com)",
            "0.00",
            "-9.95",
            "10189.05",
            "支付宝",
            "收费",
            f"天猫佣金（类目）{{{TID}}}扣款",
        ],
        [
            "20261201100000003",
            "2026120122001100003",
            "",
            "",
            "2026-12-01 10:00:06",
            "淘宝联盟",
            "0.00",
            "-5.97",
            "10183.08",
            "支付宝",
            "其它",
            f"淘宝客佣金代扣款[{TID}]",
        ],
        [
            "20261201100000004",
            "2026120122001100004",
            "",
            "",
            "2026-12-01 10:00:07",
            "花呗",
            "0.00",
            "-1.19",
            "10181.89",
            "支付宝",
            "收费",
            f"花呗支付服务费({TID})",
        ],
        # a refund of another order
        [
            "20261201100000005",
            "2026120122001100005",
            f"T200P{TID2}",
            "马克杯",
            "2026-12-01 23:59:59",
            "买家",
            "0.00",
            "-29.90",
            "10151.99",
            "支付宝",
            "交易退款",
            "售后退款",
        ],
        # no money: no line
        [
            "20261201100000006",
            "2026120122001100006",
            "",
            "",
            "2026-12-01 12:00:00",
            "",
            "0.00",
            "0.00",
            "10151.99",
            "支付宝",
            "其它",
            "余额查询",
        ],
    ]


def test_alipay_zip_of_gbk_csv_maps_sales_fees_and_refunds_to_the_fen() -> None:
    parsed = parse_settlement_file(
        sf.alipay_zip(_alipay_rows()), "2088_20261201.zip", PRESETS["alipay_account_bill"].mapping
    )
    assert parsed.rows == 6 and parsed.skipped_rows == 1
    got = [(line.line_key, line.external_id, line.kind, line.amount) for line in parsed.lines]
    assert got == [
        ("20261201100000001:in", TID, LineKind.SALE, 19900),
        ("20261201100000002:out", TID, LineKind.COMMISSION, -995),
        ("20261201100000003:out", TID, LineKind.PROMOTION_FEE, -597),
        ("20261201100000004:out", TID, LineKind.PAYMENT_FEE, -119),
        ("20261201100000005:out", TID2, LineKind.REFUND, -2990),
    ]
    assert parsed.total == 19900 - 995 - 597 - 119 - 2990
    sale = parsed.lines[0]
    assert sale.settled_at == datetime(2026, 12, 1, 2, 0, 1, tzinfo=UTC)  # 10:00:01 Beijing
    assert sale.bill_date == date(2026, 12, 1)
    assert "纯棉T恤 白色 XL" in sale.memo and sale.raw["商品名称"] == "纯棉T恤 白色 XL"  # Chinese text intact
    assert parsed.lines[-1].bill_date == date(2026, 12, 1)  # 23:59:59 Beijing stays on the 1st


def test_the_same_file_maps_to_the_same_line_keys() -> None:
    mapping = PRESETS["alipay_account_bill"].mapping
    first = parse_settlement_file(sf.alipay_zip(_alipay_rows()), "a.zip", mapping)
    again = parse_settlement_file(sf.alipay_csv(_alipay_rows()).encode("gbk"), "a.csv", mapping)  # unzipped too
    assert [line.line_key for line in first.lines] == [line.line_key for line in again.lines]
    assert first.lines == again.lines


def test_alipay_bad_rows_are_refused_with_row_and_column_and_nothing_returned() -> None:
    rows = _alipay_rows()
    rows[1][7] = "-9.9x"  # not an amount
    rows[2][4] = "昨天"  # not a time
    rows[3][0] = rows[0][0]  # a repeated 账务流水号
    with pytest.raises(ValidationFailed) as caught:
        parse_settlement_file(sf.alipay_zip(rows), "bad.zip", PRESETS["alipay_account_bill"].mapping)
    exc = caught.value
    assert exc.code == "settlement_file_invalid" and exc.field == "file"
    errors = exc.extra["errors"]
    assert exc.extra["error_count"] == 3
    # the file's rows: 4 comment/header lines above, the header on row 5, data from row 6
    assert [(e["row"], e["column"], e["code"]) for e in errors] == [
        (7, "支出金额（-元）", "invalid_amount"),
        (8, "发生时间", "invalid_time"),
        (9, "账务流水号", "duplicate_key"),
    ]
    assert "9.9x" in errors[0]["message"] and "第 7 行" in exc.message
    assert "第 6 行" in errors[2]["message"]


def test_errors_listed_up_to_the_limit_with_the_full_count() -> None:
    rows = [
        [f"2026120110000{i:04d}", "", f"T200P{TID}", "", "坏时间", "", "1.00", "0.00", "", "", "交易付款", ""]
        for i in range(80)
    ]
    with pytest.raises(ValidationFailed) as caught:
        parse_settlement_file(sf.alipay_csv(rows).encode("gbk"), "x.csv", PRESETS["alipay_account_bill"].mapping)
    assert caught.value.extra["error_count"] == 80 and len(caught.value.extra["errors"]) == 50


def _jd_rows() -> list[list[object]]:
    base = {
        "商户订单号": "",
        "商品名称": "京东自营同款 保温杯 500ml",
        "结算状态": "已结算",
        "费用发生时间": "2026-11-28 12:00:00",
        "费用计费时间": "2026-12-01 02:00:00",
        "费用结算时间": "2026-12-01 08:30:00",
        "币种": "CNY",
        "商家应收/应付": "",
        "钱包结算备注": "",
        "店铺号": "10001",
        "京东门店编号": "",
        "品牌门店编号": "",
        "门店名称": "",
        "备注": "",
        "商品数量": 1,
        "对账日期": "2026-12-01",
    }

    def row(order: str, doc: str, doc_type: str, sku: str, fee: str, amount: object, direction: str) -> list[object]:
        values = dict(
            base,
            订单编号=order,
            单据编号=doc,
            单据类型=doc_type,
            商品编号=sku,
            费用项=fee,
            金额=amount,
            收支方向=direction,
        )
        return [values[name] for name in sf.JD_HEADER]

    return [
        row("300012345678", "300012345678", "订单", "100012345", "货款", 128.8, "收入"),
        row("300012345678", "300012345678", "订单", "100012345", "佣金", 10.30, "支出"),
        row("300012345678", "300012345678", "订单", "100012345", "运费保险服务费", 0.5, "支出"),
        row("300012345678", "300012345678", "订单", "100012345", "随单送的京豆", "1.29", "支出"),
        row("300012345679", "A88001", "售后服务单", "100012346", "货款", "59.00", "支出"),
    ]


def test_jd_pop_settlement_xlsx_with_a_title_row() -> None:
    parsed = parse_settlement_file(sf.jd_xlsx(_jd_rows()), "结算单.xlsx", PRESETS["jd_pop_settlement"].mapping)
    got = [(line.external_id, line.kind, line.amount) for line in parsed.lines]
    assert got == [
        ("300012345678", LineKind.SALE, 12880),
        ("300012345678", LineKind.COMMISSION, -1030),
        ("300012345678", LineKind.INSURANCE, -50),
        ("300012345678", LineKind.PROMOTION_FEE, -129),
        ("300012345679", LineKind.REFUND, -5900),
    ]
    assert parsed.lines[0].line_key == "300012345678|货款|100012345"
    assert parsed.lines[0].bill_date == date(2026, 12, 1)
    assert parsed.lines[0].occurred_at == datetime(2026, 11, 28, 4, 0, tzinfo=UTC)
    assert parsed.lines[0].raw["商品名称"] == "京东自营同款 保温杯 500ml"


def test_jd_unknown_direction_is_a_row_error() -> None:
    rows = _jd_rows()
    rows[2][sf.JD_HEADER.index("收支方向")] = "不明"
    with pytest.raises(ValidationFailed) as caught:
        parse_settlement_file(sf.jd_xlsx(rows), "j.xlsx", PRESETS["jd_pop_settlement"].mapping)
    (error,) = caught.value.extra["errors"]
    assert (error["row"], error["column"], error["code"]) == (5, "收支方向", "unknown_direction")  # title, header, 3rd


def test_pdd_bill_gbk_csv_with_a_total_row() -> None:
    rows = [
        ["261201-123456789012345", "2026-12-01 08:00:00", "89.90", "0.00", "交易收入", "", "订单结算收入"],
        ["261201-123456789012345", "2026-12-01 08:00:00", "5.00", "0.00", "优惠券结算", "", "平台券补贴"],
        ["261201-123456789012345", "2026-12-02 09:10:00", "0.00", "-0.54", "技术服务费", "", "0030002技术服务费"],
        ["261201-123456789012346", "2026-12-02 10:00:00", "0.00", "-20.00", "扣款", "", "004延迟发货罚款"],
        ["", "2026-12-02 11:00:00", "0.00", "-3.00", "其他", "", "运费险保费"],
    ]
    parsed = parse_settlement_file(sf.pdd_csv_gbk(rows), "pdd.csv", PRESETS["pdd_bill"].mapping)
    got = [(line.external_id, line.kind, line.amount, line.bill_date.day) for line in parsed.lines]
    assert got == [
        ("261201-123456789012345", LineKind.SALE, 8990, 1),
        ("261201-123456789012345", LineKind.PLATFORM_COUPON, 500, 1),
        ("261201-123456789012345", LineKind.COMMISSION, -54, 2),
        ("261201-123456789012346", LineKind.PENALTY, -2000, 2),
        ("", LineKind.INSURANCE, -300, 2),  # an account-level line on no order
    ]
    assert parsed.lines[3].memo == "扣款 / 004延迟发货罚款"
    assert len({line.line_key for line in parsed.lines}) == 5


def test_douyin_settle_bill_one_row_becomes_a_line_per_amount_column() -> None:
    rows = [
        sf.douyin_row(
            settled="2026-12-01 06:00:00",
            order="6920000000000000001",
            sub="6920000000000000002",
            pay="99.00",
            platform_coupon="10.00",
            author_coupon="5.00",
            service_fee="5.70",
            commission="11.40",
            colonel="1.14",
            memo="达人直播间",
        ),
        sf.douyin_row(
            settled="2026-12-01 07:00:00",
            order="6920000000000000003",
            sub="6920000000000000004",
            pay="50.00",
            refund="50.00",
        ),
    ]
    parsed = parse_settlement_file(sf.douyin_csv_bom(rows), "抖店结算.csv", PRESETS["douyin_settle"].mapping)
    first = [line for line in parsed.lines if line.sub_id == "6920000000000000002"]
    assert [(line.line_key, line.kind, line.amount) for line in first] == [
        ("6920000000000000002:pay", LineKind.SALE, 9900),
        ("6920000000000000002:platform_coupon", LineKind.PLATFORM_COUPON, 1000),
        ("6920000000000000002:author_coupon", LineKind.PLATFORM_COUPON, 500),
        ("6920000000000000002:platform_service_fee", LineKind.COMMISSION, -570),
        ("6920000000000000002:commission", LineKind.PROMOTION_FEE, -1140),
        ("6920000000000000002:colonel_fee", LineKind.PROMOTION_FEE, -114),
    ]
    assert sum(line.amount for line in first) == 9900 + 1000 + 500 - 570 - 1140 - 114  # = 结算金额 96.76
    assert all(line.external_id == "6920000000000000001" for line in first)
    assert first[0].memo.endswith("达人直播间")
    refunded = [line for line in parsed.lines if line.sub_id == "6920000000000000004"]
    assert [(line.kind, line.amount, line.refund_before_settle) for line in refunded] == [
        (LineKind.SALE, 5000, True),
        (LineKind.REFUND, -5000, True),
    ]


def test_douyin_ids_in_scientific_notation_are_refused() -> None:
    rows = [sf.douyin_row(settled="2026-12-01 06:00:00", order="6.92E+18", sub="6920000000000000002", pay="1.00")]
    with pytest.raises(ValidationFailed) as caught:
        parse_settlement_file(sf.douyin_csv_bom(rows), "d.csv", PRESETS["douyin_settle"].mapping)
    (error,) = caught.value.extra["errors"]
    assert (error["row"], error["column"], error["code"]) == (2, "订单号", "scientific_notation")


def test_wechat_shop_funds_flow_with_direction_column() -> None:
    rows = [
        [
            "FL0001",
            "2026-12-01 09:00:00",
            "订单结算",
            "收入",
            "68.00",
            "1068.00",
            "3712345678901234",
            "",
            "订单结算入账",
        ],
        ["FL0002", "2026-12-01 09:00:00", "技术服务费", "支出", "0.68", "1067.32", "3712345678901234", "", ""],
        ["FL0003", "2026-12-01 10:00:00", "退款", "支出", "20.00", "1047.32", "3712345678901235", "AS01", "售后退款"],
        ["FL0004", "2026-12-01 11:00:00", "提现", "支出", "1000.00", "47.32", "", "", "提现到银行卡"],
    ]
    parsed = parse_settlement_file(sf.wechat_csv(rows), "资金流水.csv", PRESETS["wechat_shop_funds"].mapping)
    got = [(line.line_key, line.external_id, line.kind, line.amount) for line in parsed.lines]
    assert got == [
        ("FL0001", "3712345678901234", LineKind.SALE, 6800),
        ("FL0002", "3712345678901234", LineKind.COMMISSION, -68),
        ("FL0003", "3712345678901235", LineKind.REFUND, -2000),
        ("FL0004", "", LineKind.ADJUSTMENT, -100000),
    ]


def test_a_custom_mapping_in_fen_with_a_kind_table_and_an_unknown_kind() -> None:
    mapping = decode_mapping(
        {
            "order_id": ["单号"],
            "amounts": [{"column": "金额(分)"}],
            "unit": "fen",
            "settled_at": "时间",
            "kind_columns": ["类型"],
            "kinds": {"货款": "sale", "佣金": "commission"},
        }
    )
    good = "单号,类型,金额(分),时间\nA1,货款,1000,2026-12-01 10:00\nA1,佣金,-50,2026-12-01 10:00\n"
    parsed = parse_settlement_file(good.encode(), "x.csv", mapping)
    when = "2026-12-01T02:00:00+00:00"  # the row's time is part of a key derived without a row id
    assert [(line.line_key, line.amount) for line in parsed.lines] == [
        (f"A1|货款|{when}", 1000),
        (f"A1|佣金|{when}", -50),
    ]
    bad = good + "A2,罚款,-3,2026-12-01 10:00\nA3,货款,1.5,2026-12-01 10:00\n"
    with pytest.raises(ValidationFailed) as caught:
        parse_settlement_file(bad.encode(), "x.csv", mapping)
    assert [(e["row"], e["column"], e["code"]) for e in caught.value.extra["errors"]] == [
        (4, "类型", "unknown_kind"),
        (5, "金额(分)", "invalid_amount"),
    ]


def test_a_mapped_column_missing_from_the_file_is_a_mapping_error() -> None:
    with pytest.raises(ValidationFailed) as caught:
        parse_settlement_file(sf.wechat_csv([]), "w.csv", PRESETS["douyin_settle"].mapping)
    # the header is not found at all: no row holds 子订单号
    assert caught.value.field == "file"
    mapping = SettlementMapping(
        amounts=[AmountColumn(column="金额", kind=LineKind.SALE)], settled_at="时间", order_id=["订单"]
    )
    with pytest.raises(ValidationFailed) as caught:
        parse_settlement_file("时间,订单,钱\n2026-12-01,A,1\n".encode(), "m.csv", mapping)
    assert caught.value.field == "mapping" and caught.value.extra["errors"][0]["column"] == "金额"


def test_mapping_checks() -> None:
    with pytest.raises(ValidationFailed) as caught:
        decode_mapping({"amounts": [{"column": "金额"}], "settled_at": "时间"})
    assert caught.value.field == "mapping.amounts[0].kind"
    with pytest.raises(ValidationFailed) as caught:
        decode_mapping(
            {"amounts": [{"column": "金额", "kind": "sale"}], "settled_at": "时间", "order_id_patterns": ["("]}
        )
    assert caught.value.field == "mapping.order_id_patterns[0]"
    with pytest.raises(ValidationFailed) as caught:
        decode_mapping({"amounts": [{"column": "金额", "kind": "bogus"}], "settled_at": "时间"})
    assert caught.value.field == "mapping"
    for preset in PRESETS.values():  # every preset survives a round trip through JSON (saved mappings)
        assert decode_mapping(msgspec.json.encode(preset.mapping)) == preset.mapping


def test_a_zip_with_several_bill_files_is_refused() -> None:
    import io
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("a.csv", "x")
        archive.writestr("b.csv", "y")
    with pytest.raises(ValidationFailed) as caught:
        parse_settlement_file(buffer.getvalue(), "two.zip", PRESETS["pdd_bill"].mapping)
    assert "多个账单文件" in caught.value.message
