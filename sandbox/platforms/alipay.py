"""支付宝 (Alipay) OpenAPI gateway simulator: the account bill download of a Taobao/Tmall shop.

``POST /alipay/gateway.do`` (form body, or the query string, or both — the SDKs put the common params in the query
and ``biz_content`` in the body) with the common params ``app_id``, ``method``, ``format`` (JSON), ``charset``
(utf-8), ``sign_type`` (RSA2), ``timestamp`` (``yyyy-MM-dd HH:mm:ss`` Beijing time), ``version`` (1.0), ``sign`` and
``biz_content`` (a JSON string). Docs:

- API: https://opendocs.alipay.com/apis/api_15/alipay.data.dataservice.bill.downloadurl.query —
  ``biz_content`` ``{"bill_type": "trade" | "signcustomer", "bill_date": "yyyy-MM-dd" | "yyyy-MM"}``; the answer's
  ``bill_download_url`` "获取连接后30秒后未下载，链接地址失效" (expires 30 s after it is handed out); day bills are T+1
  ("不支持下载当日账单，只能下载前一日24点前的账单数据"), month bills only for past months.
- Signature: see :func:`sandbox.platforms.signing.alipay_sign_content` (RSA2 = SHA256withRSA over the sorted
  ``k=v&…`` string, verified with the shop's app public key). Answers carry ``sign`` = RSA2 over the exact JSON text of
  the ``alipay_data_dataservice_bill_downloadurl_query_response`` node, made with the simulated Alipay's private key
  (the shop verifies with ``store.alipay_public_key_pem``). Gateway-level refusals (40001/40002) carry no ``sign``.
- Public error codes (网关公共错误码, https://open.alitrip.com/docs/doc.htm?articleId=105806&docType=1&treeId=262,
  a copy of Alipay's 公共错误码 page): 40001 "Missing Required Arguments" (isv.missing-method, isv.missing-signature,
  isv.missing-signature-type, isv.missing-app-id, isv.missing-timestamp, isv.missing-version), 40002 "Invalid
  Arguments" (isv.invalid-method, isv.invalid-app-id, isv.invalid-signature, isv.invalid-signature-type,
  isv.invalid-timestamp, isv.invalid-charset, isv.invalid-format), 40004 "Business Failed", 20000 "Service
  Currently Unavailable" (isp.unknow-error).
- Business errors of this API: the spec enumerates BILL_NOT_EXIST / INVAILID_ARGUMENTS; the gateway actually answers
  sub_code ``isp.bill_not_exist`` (账单不存在 — also what a not-yet-generated day gets) and ``isv.invalid_arguments``
  (as the SDKs that handle it test for, e.g. smartwalle/alipay ``IsBillNotExist``). A past day with no money movement
  has no bill either (``isp.bill_not_exist``) unless the test opens an empty one.

The download (``GET /alipay/downloadBillFile.resource?…&token=…``) is a ZIP of two GBK CSV files, named like
Alipay's (``<userId>0156_<yyyyMMdd>_账务明细.csv`` and ``…_账务明细(汇总).csv`` for signcustomer; ``业务明细`` for
trade), the names stored in GBK without the ZIP UTF-8 flag as Alipay's zips have them (readers must decode the raw
name bytes as GBK). Each file has Alipay's ``#`` header and footer lines (``#支付宝账务明细查询``, ``#账号：[…]``,
``#起始日期：[…]   终止日期：[…]``, ``#…账务明细列表结束…``, ``#支出合计：…``, ``#收入合计：…``, ``#导出时间：[…]``) and
id/text cells padded with a trailing tab (so Excel keeps long numbers), as in the real files. An expired or unknown
token answers HTTP 404 (what Alipay's file server answers exactly is not documented).
"""

from __future__ import annotations

import csv
import io
import json
import zipfile
from datetime import date, datetime, time, timedelta
from typing import Any
from urllib.parse import quote, urlencode

from litestar import Request, Response, get, route

from sandbox.platforms._common import dumps, parse_time, read_body_and_params, store_of
from sandbox.platforms.settlements import (
    ALIPAY_ACCOUNT_COLUMNS,
    ALIPAY_TRADE_COLUMNS,
    AlipayApp,
    SettlementData,
    fen_of,
    yuan_text,
)
from sandbox.platforms.signing import alipay_rsa2_sign, alipay_rsa2_verify, alipay_sign_content
from sandbox.platforms.store import SHANGHAI, PlatformStore

__all__ = ["DOWNLOAD_PATH", "GATEWAY_PATH", "METHOD", "build_bill_zip", "route_handlers"]

GATEWAY_PATH = "/alipay/gateway.do"
DOWNLOAD_PATH = "/alipay/downloadBillFile.resource"
METHOD = "alipay.data.dataservice.bill.downloadurl.query"
RESPONSE_NODE = "alipay_data_dataservice_bill_downloadurl_query_response"
TIMESTAMP_TOLERANCE = timedelta(minutes=15)
CHARSETS = {"utf-8": "utf-8", "utf8": "utf-8", "gbk": "gbk"}
# Cells Alipay pads with a trailing tab (ids and free text), as in the published sample lines of the 账务明细 file.
_TAB_PADDED = {
    "账务流水号",
    "业务流水号",
    "商户订单号",
    "商品名称",
    "对方账号",
    "业务基础订单号",
    "支付宝交易号",
    "对方账户",
    "退款批次号/请求号",
}
_KIND = {"signcustomer": "账务明细", "trade": "业务明细"}


class _Refusal(Exception):
    def __init__(self, code: str, msg: str, sub_code: str, sub_msg: str, *, node: str, signed: bool) -> None:
        super().__init__(sub_code)
        self.node = node
        self.body = {"code": code, "msg": msg, "sub_code": sub_code, "sub_msg": sub_msg}
        self.signed = signed


def _missing(sub_code: str, sub_msg: str, node: str = RESPONSE_NODE) -> _Refusal:
    return _Refusal("40001", "Missing Required Arguments", sub_code, sub_msg, node=node, signed=False)


def _invalid(sub_code: str, sub_msg: str, node: str = RESPONSE_NODE) -> _Refusal:
    return _Refusal("40002", "Invalid Arguments", sub_code, sub_msg, node=node, signed=False)


def _business(sub_code: str, sub_msg: str) -> _Refusal:
    return _Refusal("40004", "Business Failed", sub_code, sub_msg, node=RESPONSE_NODE, signed=True)


def _cn_time(value: datetime) -> str:
    return value.strftime("%Y年%m月%d日 %H:%M:%S")


def _csv_text(preamble: list[str], header: list[str], rows: list[list[str]], footer: list[str]) -> str:
    out = io.StringIO()
    for line in preamble:
        out.write(line + "\r\n")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
    for line in footer:
        out.write(line + "\r\n")
    return out.getvalue()


def _columns(base: tuple[str, ...], rows: list[dict[str, str]]) -> list[str]:
    columns = list(base)
    for row in rows:
        for name in row:
            if name not in columns:
                columns.append(name)
    return columns


def _cells(row: dict[str, str], columns: list[str]) -> list[str]:
    cells = []
    for name in columns:
        value = row.get(name, "")
        cells.append(value + "\t" if name in _TAB_PADDED and value else value)
    return cells


def _account_files(
    app: AlipayApp, start: datetime, end: datetime, rows: list[dict[str, str]], now: datetime
) -> tuple[str, str]:
    columns = _columns(ALIPAY_ACCOUNT_COLUMNS, rows)
    period = f"#起始日期：[{_cn_time(start)}]   终止日期：[{_cn_time(end)}]"
    account = f"#账号：[{app.user_id}0156]"
    income = [fen_of(r.get("收入金额（+元）", "")) for r in rows]
    outgo = [abs(fen_of(r.get("支出金额（-元）", ""))) for r in rows]
    n_in = sum(1 for v in income if v)
    n_out = sum(1 for v in outgo if v)
    detail = _csv_text(
        ["#支付宝账务明细查询", account, period, "#" + "-" * 41 + "账务明细列表" + "-" * 40],
        columns,
        [_cells(r, columns) for r in rows],
        [
            "#" + "-" * 41 + "账务明细列表结束" + "-" * 36,
            f"#支出合计：{n_out}笔，共{yuan_text(sum(outgo))}元",
            f"#收入合计：{n_in}笔，共{yuan_text(sum(income))}元",
            f"#导出时间：[{_cn_time(now)}]",
        ],
    )
    by_type: dict[str, list[int]] = {}
    for row, fen_in, fen_out in zip(rows, income, outgo, strict=True):
        totals = by_type.setdefault(row.get("业务类型", "") or "其他", [0, 0, 0, 0])
        if fen_in:
            totals[0] += 1
            totals[1] += fen_in
        if fen_out:
            totals[2] += 1
            totals[3] += fen_out
    summary_rows = [
        [kind, str(t[0]), yuan_text(t[1]), str(t[2]), yuan_text(t[3])] for kind, t in sorted(by_type.items())
    ]
    summary_rows.append(["合计", str(n_in), yuan_text(sum(income)), str(n_out), yuan_text(sum(outgo))])
    summary = _csv_text(
        ["#支付宝账务汇总查询", account, period, "#" + "-" * 41 + "账务汇总列表" + "-" * 40],
        ["业务类型", "收入笔数", "收入金额（+元）", "支出笔数", "支出金额（-元）"],
        summary_rows,
        ["#" + "-" * 41 + "账务汇总列表结束" + "-" * 36, f"#导出时间：[{_cn_time(now)}]"],
    )
    return detail, summary


def _trade_files(
    app: AlipayApp, start: datetime, end: datetime, rows: list[dict[str, str]], now: datetime
) -> tuple[str, str]:
    columns = _columns(ALIPAY_TRADE_COLUMNS, rows)
    period = f"#起始日期：[{_cn_time(start)}]   终止日期：[{_cn_time(end)}]"
    account = f"#账号：[{app.user_id}0156]"
    received = [fen_of(r.get("商家实收（元）", "")) for r in rows]
    trades = [v for v in received if v >= 0]
    refunds = [v for v in received if v < 0]
    detail = _csv_text(
        ["#支付宝业务明细查询", account, period, "#" + "-" * 41 + "业务明细列表" + "-" * 40],
        columns,
        [_cells(r, columns) for r in rows],
        [
            "#" + "-" * 41 + "业务明细列表结束" + "-" * 36,
            f"#交易合计：{len(trades)}笔，商家实收共{yuan_text(sum(trades))}元",
            f"#退款合计：{len(refunds)}笔，商家实收共{yuan_text(sum(refunds))}元",
            f"#导出时间：[{_cn_time(now)}]",
        ],
    )
    summary = _csv_text(
        ["#支付宝业务汇总查询", account, period, "#" + "-" * 41 + "业务汇总列表" + "-" * 40],
        ["交易笔数", "退款笔数", "商家实收（元）"],
        [[str(len(trades)), str(len(refunds)), yuan_text(sum(received))]],
        ["#" + "-" * 41 + "业务汇总列表结束" + "-" * 36, f"#导出时间：[{_cn_time(now)}]"],
    )
    return detail, summary


class _GbkZipInfo(zipfile.ZipInfo):
    """A member whose name is stored as GBK bytes without the UTF-8 flag (as Alipay's zips are)."""

    # Overrides zipfile's private hook that picks the name bytes and the UTF-8 flag.
    def _encodeFilenameFlags(self) -> tuple[bytes, int]:
        try:
            return self.filename.encode("ascii"), self.flag_bits
        except UnicodeEncodeError:
            return self.filename.encode("gbk"), self.flag_bits & ~0x800


def build_bill_zip(
    app: AlipayApp,
    bill_type: str,
    label: str,
    start: datetime,
    end: datetime,
    rows: list[dict[str, str]],
    now: datetime,
) -> bytes:
    """The ZIP Alipay serves for one bill (``label`` is ``yyyyMMdd`` or ``yyyyMM``)."""
    make = _account_files if bill_type == "signcustomer" else _trade_files
    detail, summary = make(app, start, end, rows, now)
    prefix = f"{app.user_id}0156_{label}_{_KIND[bill_type]}"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as bundle:
        for name, text in ((f"{prefix}.csv", detail), (f"{prefix}(汇总).csv", summary)):
            info = _GbkZipInfo(name, date_time=now.timetuple()[:6])
            info.compress_type = zipfile.ZIP_DEFLATED
            bundle.writestr(info, text.encode("gbk"))
    return buffer.getvalue()


def _parse_bill_date(value: str) -> tuple[date, date, str] | None:
    """(first day, day after the last, label) of a ``yyyy-MM-dd`` or ``yyyy-MM`` bill date."""
    try:
        if len(value) == 10:
            day = datetime.strptime(value, "%Y-%m-%d").date()
            return day, day + timedelta(days=1), day.strftime("%Y%m%d")
        if len(value) == 7:
            first = datetime.strptime(value + "-01", "%Y-%m-%d").date()
            after = (first.replace(day=28) + timedelta(days=4)).replace(day=1)
            return first, after, first.strftime("%Y%m")
    except ValueError:
        return None
    return None


class _Call:
    def __init__(self, store: PlatformStore, params: dict[str, str], base_url: str) -> None:
        self.store = store
        self.data: SettlementData = store.settlements
        self.params = params
        self.base_url = base_url.rstrip("/")

    def dispatch(self) -> dict[str, Any]:
        p = self.params
        method = p.get("method", "")
        if not method:
            raise _missing("isv.missing-method", "缺少方法名参数", node="error_response")
        if method != METHOD:
            raise _invalid("isv.invalid-method", "不存在的方法名", node="error_response")
        app_id = p.get("app_id", "")
        if not app_id:
            raise _missing("isv.missing-app-id", "缺少appId参数")
        app = self.data.alipay_apps.get(app_id)
        if app is None:
            raise _invalid("isv.invalid-app-id", "无效的AppID参数")
        if not p.get("sign"):
            raise _missing("isv.missing-signature", "缺少签名参数")
        if not p.get("sign_type"):
            raise _missing("isv.missing-signature-type", "缺少签名类型参数")
        if p["sign_type"] != "RSA2":
            raise _invalid("isv.invalid-signature-type", "无效签名类型")
        raw_ts = p.get("timestamp", "")
        if not raw_ts:
            raise _missing("isv.missing-timestamp", "缺少时间戳参数")
        ts = parse_time(raw_ts)
        if ts is None:
            raise _invalid("isv.invalid-timestamp", "非法的时间戳参数")
        if self.store.check_timestamps and abs(ts - self.store.now()) > TIMESTAMP_TOLERANCE:
            raise _invalid("isv.invalid-timestamp", "非法的时间戳参数：时间戳超过有效期")
        if not p.get("version"):
            raise _missing("isv.missing-version", "缺少版本参数")
        if p["version"] != "1.0":
            raise _invalid("isv.invalid-parameter", "参数无效：version 只能为 1.0")
        charset = CHARSETS.get(p.get("charset", "utf-8").lower())
        if charset is None:
            raise _invalid("isv.invalid-charset", "字符集错误")
        if p.get("format", "JSON").upper() != "JSON":
            raise _invalid("isv.invalid-format", "参数格式错误")
        content = alipay_sign_content(p)
        if not alipay_rsa2_verify(content, p["sign"], app.app_public_key_pem, charset):
            raise _invalid(
                "isv.invalid-signature",
                f"验签出错，建议检查签名字符串或签名私钥与应用公钥是否匹配，网关生成的验签字符串为：{content}",
            )
        try:
            biz = json.loads(p.get("biz_content") or "{}")
        except ValueError:
            biz = None
        if not isinstance(biz, dict):
            raise _business("isv.invalid_arguments", "参数不合法：biz_content 不是 JSON 对象")
        return self.bill_url(app, biz)

    def bill_url(self, app: AlipayApp, biz: dict[str, Any]) -> dict[str, Any]:
        bill_type = str(biz.get("bill_type", ""))
        if bill_type not in _KIND:
            raise _business("isv.invalid_arguments", "参数不合法：bill_type 只能为 trade 或 signcustomer")
        parsed = _parse_bill_date(str(biz.get("bill_date", "")))
        if parsed is None:
            raise _business("isv.invalid_arguments", "参数不合法：bill_date 格式为 yyyy-MM-dd 或 yyyy-MM")
        first, after, label = parsed
        last = after - timedelta(days=1)
        if not self.data.bill_ready(last):
            # T+1: today's (and this month's) bill is not generated yet.
            raise _business("isp.bill_not_exist", "账单不存在")
        with self.data.lock:
            keys = [(app.app_id, bill_type, first + timedelta(days=i)) for i in range((after - first).days)]
            found = [k for k in keys if k in self.data.alipay_bills]
            rows = [dict(r) for k in found for r in self.data.alipay_bills[k]]
        if not found:
            raise _business("isp.bill_not_exist", "账单不存在")
        now = self.store.now()
        start = datetime.combine(first, time(0), SHANGHAI)
        end = datetime.combine(after, time(0), SHANGHAI)
        content = build_bill_zip(app, bill_type, label, start, end, rows, now)
        file_name = f"{app.user_id}0156_{label}.csv.zip"
        token = self.data.publish_download(content, file_name, "application/zip", self.data.alipay_url_ttl)
        query = urlencode(
            {
                "bizType": bill_type,
                "userId": f"{app.user_id}0156",
                "fileType": "csv.zip",
                "bizDates": label,
                "downloadFileName": file_name,
                "fileId": f"/{bill_type}/{app.user_id}0156/{label}.csv.zip",
                "timestamp": str(int(now.timestamp())),
                "token": token,
            },
            quote_via=quote,
        )
        return {"code": "10000", "msg": "Success", "bill_download_url": f"{self.base_url}{DOWNLOAD_PATH}?{query}"}


def _answer(data: SettlementData, node: str, body: dict[str, Any], *, signed: bool) -> Response[bytes]:
    node_json = dumps(body)
    text = f'{{"{node}":{node_json}'
    if signed:
        private, _ = data.alipay_keys()
        text += f',"sign":"{alipay_rsa2_sign(node_json, private)}"'
    text += "}"
    return Response(content=text.encode(), status_code=200, media_type="application/json;charset=utf-8")


@route(GATEWAY_PATH, http_method=["GET", "POST"], status_code=200)
async def alipay_gateway(request: Request[Any, Any, Any]) -> Response[bytes]:
    store = store_of(request)
    _, params = await read_body_and_params(request)
    call = _Call(store, params, str(request.base_url))
    try:
        body = call.dispatch()
        outcome = "ok"
        response = _answer(store.settlements, RESPONSE_NODE, body, signed=True)
    except _Refusal as refusal:
        outcome = str(refusal)
        response = _answer(store.settlements, refusal.node, refusal.body, signed=refusal.signed)
    with store.settlements.lock:
        store.settlements.alipay_requests.append((params.get("method", ""), params.get("app_id", ""), outcome))
    return response


@get(DOWNLOAD_PATH, sync_to_thread=False)
def alipay_download(request: Request[Any, Any, Any]) -> Response[bytes]:
    store = store_of(request)
    item = store.settlements.take_download(str(request.query_params.get("token", "")))
    if item is None:
        return Response(content="链接已失效".encode(), status_code=404, media_type="text/plain;charset=utf-8")
    return Response(
        content=item.content,
        status_code=200,
        media_type=item.media_type,
        headers={"Content-Disposition": f"attachment; filename={item.file_name}"},
    )


route_handlers = [alipay_gateway, alipay_download]
