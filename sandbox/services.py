"""Serve the demo's outside services in the foreground: the carrier simulators (顺丰, 中通, 极兔), 快递100, and the
WeChat / WeCom and Aliyun SMS simulators::

    python -m sandbox.services --credentials-file var/services.json [--journey-minutes 6]

Opens one account per carrier, a 快递100 account, a mini-program, an Official Account, a WeCom app and an Aliyun
SMS account with a sign and one approved template per customer notice, and writes them (with the gateways' URLs)
to the credentials file so the hub can be pointed at them. Every parcel subscribed at 快递100 gets a scripted
journey (揽收 → 在途 → 派件 → 签收) compressed into ``--journey-minutes``, pushed to the hub's callback as it happens.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import threading
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from sandbox.aliyun_sms import AliyunSmsServer
from sandbox.carriers.server import CarrierServer
from sandbox.kuaidi100 import STANDARD_JOURNEY, Kuaidi100Server
from sandbox.wechat import WeChatServer

__all__ = ["SMS_TEMPLATES", "main"]

# The demo's approved SMS templates, one per customer notice (the hub's default field names).
SMS_TEMPLATES = {
    "shipped": "您的订单${order}已由${carrier}发出，运单号${no}，查件：${link}",
    "out_for_delivery": "您的包裹（${carrier} ${no}）正在派送，请保持电话畅通",
    "signed": "您的包裹（${carrier} ${no}）已签收，感谢您的购买",
    "delayed": "您的包裹（${carrier} ${no}）暂无新的物流信息，我们正在跟进",
}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sandbox.services", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--credentials-file", type=Path, required=True)
    parser.add_argument("--journey-minutes", type=float, default=6.0, help="how long a demo parcel travels")
    args = parser.parse_args(argv)
    # The simulators' web apps set up logging at INFO; the 快递100 pushes (httpx, a line each) would fill the demo's
    # terminal once parcels travel. Warnings and errors only, like the hub's own processes under `orderhub run`.
    logging.getLogger("httpx").setLevel(logging.WARNING)

    carriers = CarrierServer(host=args.host).start()
    kd100 = Kuaidi100Server(host=args.host)
    journey_hours = max(hours for hours, *_ in STANDARD_JOURNEY)
    kd100.store.auto_journey_scale = args.journey_minutes / 60 / journey_hours
    kd100.start()
    kd_account = kd100.store.create_account()
    accounts = {code: carriers.new_account(code) for code in ("SF", "ZTO", "JT")}
    wechat = WeChatServer(host=args.host).start()
    corp = wechat.store.create_corp()
    wechat.store.add_wecom_user(corp.corp_id, "demo-manager")  # the demo manager's 企业微信 account
    sms = AliyunSmsServer(host=args.host).start()
    sms.store.flow_limit = None  # the hub keeps to its own per-phone limits
    key_id, key_secret = sms.store.create_account()
    sms.store.add_sign("订单中枢演示")
    templates = {}
    for index, (notice, text) in enumerate(SMS_TEMPLATES.items(), start=1):
        code = f"SMS_9000000{index}"
        sms.store.add_template(code, text)
        templates[notice] = code
    found = {
        "carriers": accounts,
        "kuaidi100": {"key": kd_account.key, "customer": kd_account.customer, "base_url": kd100.base_url},
        "aliyun_sms": {"access_key_id": key_id, "access_key_secret": key_secret, "sign_name": "订单中枢演示",
                       "endpoint": sms.endpoint, "protocol": "http", "templates": templates},
        "wecom": {"corp_id": corp.corp_id, "secret": corp.secret, "agent_id": str(corp.agent_id),
                  "base_url": wechat.base_url},
    }
    text = json.dumps(found, ensure_ascii=False, indent=2)
    args.credentials_file.parent.mkdir(parents=True, exist_ok=True)
    partial = args.credentials_file.with_suffix(".tmp")
    partial.write_text(text + "\n", encoding="utf-8")
    partial.chmod(0o600)
    partial.replace(args.credentials_file)  # whole or not at all: the hub reads it as soon as it appears

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    while not stop.wait(3.0):  # the demo's clock: scripted steps happen and are pushed as real time passes
        try:
            kd100.store.advance(datetime.now(UTC))
        except Exception as exc:  # the hub may be restarting; its 30-minute poll catches the parcel up
            print(f"kuaidi100 push failed: {exc!r}", flush=True)
    for server in (sms, wechat, kd100, carriers):
        server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
