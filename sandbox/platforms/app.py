"""The one ASGI app serving all five simulated platforms, each under its own path prefix.

/taobao/router/rest          Taobao/Tmall TOP
/douyin/<method/as/path>     抖店
/pinduoduo/api/router        拼多多
/jd/routerjson               京东 JOS
/wechat_shop/...             微信小店 (cgi-bin/token, channels/ec/...)
/alipay/gateway.do           支付宝 OpenAPI (account bill download for Taobao/Tmall shops)
"""

from __future__ import annotations

from typing import Any

from litestar import Litestar, get
from litestar.datastructures import State

from sandbox.platforms import alipay, douyin, jd, pinduoduo, taobao, wechat_shop
from sandbox.platforms.store import PlatformStore

__all__ = ["ENDPOINTS", "create_app"]

ENDPOINTS = {
    "taobao": taobao.ROUTER_PATH,
    "douyin": douyin.PREFIX,
    "pinduoduo": pinduoduo.ROUTER_PATH,
    "jd": jd.ROUTER_PATH,
    "wechat_shop": wechat_shop.PREFIX,
    "alipay": alipay.GATEWAY_PATH,
}


@get("/", sync_to_thread=False)
def index() -> dict[str, Any]:
    return {"service": "OrderHub platform simulators", "endpoints": ENDPOINTS}


@get("/healthz", sync_to_thread=False)
def healthz() -> dict[str, str]:
    return {"status": "ok"}


def create_app(store: PlatformStore | None = None) -> Litestar:
    """The simulators over ``store`` (a fresh one when not given; reach it as ``app.state.store``)."""
    return Litestar(
        route_handlers=[
            index,
            healthz,
            *taobao.route_handlers,
            *douyin.route_handlers,
            *pinduoduo.route_handlers,
            *jd.route_handlers,
            *wechat_shop.route_handlers,
            *alipay.route_handlers,
        ],
        state=State({"store": store or PlatformStore()}),
        openapi_config=None,
        debug=False,
    )
