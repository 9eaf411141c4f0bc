"""Sample settlement exports in each platform's own layout (see the preset comments in
``orderhub/channels/erp_file/settlements.py`` for where each layout comes from): an Alipay account bill as a zip of
GBK CSVs (GBK member names, as Alipay's archive has them), a JD POP settlement detail as XLSX with a title row, a
拼多多 bill as a GBK CSV, a 抖店 settlement bill as a UTF-8-with-BOM CSV and a 视频号小店 funds flow as UTF-8 CSV."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Sequence

ALIPAY_HEADER = [
    "账务流水号",
    "业务流水号",
    "商户订单号",
    "商品名称",
    "发生时间",
    "对方账号",
    "收入金额（+元）",
    "支出金额（-元）",
    "账户余额（元）",
    "交易渠道",
    "业务类型",
    "备注",
]

JD_HEADER = [
    "订单编号",
    "单据编号",
    "单据类型",
    "商品编号",
    "商户订单号",
    "商品名称",
    "结算状态",
    "费用发生时间",
    "费用计费时间",
    "费用结算时间",
    "费用项",
    "金额",
    "币种",
    "商家应收/应付",
    "钱包结算备注",
    "店铺号",
    "京东门店编号",
    "品牌门店编号",
    "门店名称",
    "备注",
    "收支方向",
    "商品数量",
    "对账日期",
]

PDD_HEADER = ["商户订单号", "发生时间", "收入金额（+元）", "支出金额（-元）", "账务类型", "备注", "业务描述"]

DOUYIN_HEADER = [
    "结算时间",
    "订单号",
    "子订单号",
    "结算金额",
    "结算账户",
    "结算单类型",
    "有结算前退款",
    "下单时间",
    "商品ID",
    "商品数量",
    "业务类型",
    "订单类型",
    "订单总价",
    "商品总价",
    "运费",
    "店铺劵",
    "结算前退款金额",
    "平台补贴",
    "达人补贴",
    "抖音支付补贴",
    "抖音月付营销补贴",
    "用户实付",
    "收入合计",
    "平台服务费",
    "佣金",
    "渠道分成",
    "招商服务费",
    "站外推广费",
    "其他分成",
    "其他分成说明",
    "支出合计",
    "是否免佣",
    "免佣金额",
    "备注",
]

WECHAT_HEADER = [
    "流水单号",
    "记账时间",
    "资金类型",
    "收支类型",
    "金额（元）",
    "账户余额（元）",
    "关联订单号",
    "关联售后单号",
    "备注",
]


def _csv_line(cells: Sequence[str]) -> str:
    out = []
    for cell in cells:
        text = str(cell)
        if any(ch in text for ch in ',"\n'):
            text = '"' + text.replace('"', '""') + '"'
        out.append(text)
    return ",".join(out)


def alipay_csv(rows: Sequence[Sequence[str]], *, account: str = "20881234567890120156", day: str = "2026-12-01") -> str:
    """The 账务明细 CSV text: the ``#`` header block, cells padded with a tab, the ``#`` footer with the totals."""

    def number(text: str) -> float:
        try:
            return float(text or 0)
        except ValueError:  # a deliberately bad cell
            return 0.0

    income = sum(number(row[6]) for row in rows)
    expense = sum(number(row[7]) for row in rows)
    lines = [
        "#支付宝账务明细查询",
        f"#账号：[{account}]",
        f"#起始日期：[{day} 00:00:00]   终止日期：[{day} 23:59:59]",
        "#-----------------------------------------账务明细列表----------------------------------------",
        ",".join(ALIPAY_HEADER),
    ]
    for row in rows:
        lines.append(",".join(f"{cell}\t" for cell in row))
    lines += [
        "#-----------------------------------------账务明细列表结束------------------------------------",
        f"#支出合计：{sum(1 for r in rows if number(r[7]))}笔，共{expense:.2f}元",
        f"#收入合计：{sum(1 for r in rows if number(r[6]))}笔，共{income:.2f}元",
        "#导出时间：[2026年12月02日 09:13:01]",
    ]
    return "\r\n".join(lines) + "\r\n"


class _GbkName(zipfile.ZipInfo):
    """A member whose name is stored as GBK bytes without the UTF-8 flag (as Alipay's archives are)."""

    def _encodeFilenameFlags(self) -> tuple[bytes, int]:  # zipfile's own method name
        return self.filename.encode("gbk"), self.flag_bits & ~0x800


def alipay_zip(
    rows: Sequence[Sequence[str]], *, account: str = "20881234567890120156", day: str = "2026-12-01"
) -> bytes:
    """Alipay's bill download: ``<account>_<day>_账务明细.csv`` and ``…_账务汇总.csv``, GBK, zipped."""
    stamp = day.replace("-", "")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        detail = _GbkName(f"{account}_{stamp}_账务明细.csv", date_time=(2026, 12, 2, 9, 13, 1))
        detail.compress_type = zipfile.ZIP_DEFLATED
        archive.writestr(detail, alipay_csv(rows, account=account, day=day).encode("gbk"))
        summary = _GbkName(f"{account}_{stamp}_账务汇总.csv", date_time=(2026, 12, 2, 9, 13, 1))
        archive.writestr(
            summary, "#支付宝账务汇总查询\r\n业务类型,收入笔数,收入金额\r\n交易付款,1,1.00\r\n".encode("gbk")
        )
    return buffer.getvalue()


def xlsx(header: Sequence[str], rows: Sequence[Sequence[object]], *, title: str = "") -> bytes:
    """A one-sheet workbook; ``title`` adds a title row above the header (as JD's export has)."""
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    assert sheet is not None
    if title:
        sheet.append([title])
    sheet.append(list(header))
    for row in rows:
        sheet.append(list(row))
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def jd_xlsx(rows: Sequence[Sequence[object]]) -> bytes:
    return xlsx(JD_HEADER, rows, title="结算单明细（导出时间：2026-12-02 10:00:00）")


def pdd_csv_gbk(rows: Sequence[Sequence[str]]) -> bytes:
    lines = [",".join(PDD_HEADER)] + [_csv_line(row) for row in rows]
    lines.append(_csv_line(["合计", "", "", "", "", "", ""]))
    return ("\r\n".join(lines) + "\r\n").encode("gbk")


def douyin_csv_bom(rows: Sequence[Sequence[str]]) -> bytes:
    lines = [",".join(DOUYIN_HEADER)] + [_csv_line(row) for row in rows]
    return ("\ufeff" + "\r\n".join(lines) + "\r\n").encode("utf-8")


def wechat_csv(rows: Sequence[Sequence[str]]) -> bytes:
    lines = [",".join(WECHAT_HEADER)] + [_csv_line(row) for row in rows]
    return ("\r\n".join(lines) + "\r\n").encode("utf-8")


def douyin_row(
    *,
    settled: str,
    order: str,
    sub: str,
    pay: str,
    platform_coupon: str = "0",
    author_coupon: str = "0",
    refund: str = "0",
    service_fee: str = "0",
    commission: str = "0",
    colonel: str = "0",
    memo: str = "",
) -> list[str]:
    """One 抖店 settlement row; 结算金额 = 收入合计 − 结算前退款 − 支出合计 (all in 元 text)."""
    from decimal import Decimal

    income = Decimal(pay) + Decimal(platform_coupon) + Decimal(author_coupon)
    out = Decimal(service_fee) + Decimal(commission) + Decimal(colonel)
    settle = income - Decimal(refund) - out
    values = {
        "结算时间": settled,
        "订单号": order,
        "子订单号": sub,
        "结算金额": f"{settle:.2f}",
        "结算账户": "聚合账户",
        "结算单类型": "已结算",
        "有结算前退款": "是" if Decimal(refund) else "否",
        "下单时间": "2026-11-28 20:15:00",
        "商品ID": "3688001",
        "商品数量": "1",
        "业务类型": "鲁班广告",
        "订单类型": "普通订单",
        "订单总价": pay,
        "商品总价": pay,
        "运费": "0",
        "店铺劵": "0",
        "结算前退款金额": refund,
        "平台补贴": platform_coupon,
        "达人补贴": author_coupon,
        "抖音支付补贴": "0",
        "抖音月付营销补贴": "0",
        "用户实付": pay,
        "收入合计": f"{income:.2f}",
        "平台服务费": service_fee,
        "佣金": commission,
        "渠道分成": "0",
        "招商服务费": colonel,
        "站外推广费": "0",
        "其他分成": "0",
        "其他分成说明": "",
        "支出合计": f"{out:.2f}",
        "是否免佣": "否",
        "免佣金额": "0",
        "备注": memo,
    }
    return [values[name] for name in DOUYIN_HEADER]
