"""What `orderhub run` puts on a person's terminal: text log lines, and the demo shop's totals instead of a line per
order."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import httpx
import pytest

from orderhub.logs import TextFormatter
from sandbox.demo_shop import DemoShop


def test_text_log_lines_are_one_line_with_their_fields() -> None:
    record = logging.LogRecord("orderhub.worker", logging.WARNING, __file__, 1, "pull failed", None, None)
    record.channel = "tmall_flagship"
    line = TextFormatter().format(record)
    assert "\n" not in line and not line.startswith("{")
    assert line.endswith("WARNING orderhub.worker: pull failed channel=tmall_flagship")


@pytest.mark.parametrize("quiet", [False, True])
def test_the_quiet_demo_shop_prints_totals_instead_of_each_push(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], quiet: bool
) -> None:
    (tmp_path / "channels.json").write_text(json.dumps({"own_store": "secret"}))
    (tmp_path / "skus.json").write_text(json.dumps([{"code": "SKU-1", "price": 1000}]))
    answers = iter(["accepted"] * 4 + ["duplicate"])

    def hub(request: httpx.Request) -> httpx.Response:
        return httpx.Response(202, json={"results": [{"status": next(answers), "order_id": 1}]})

    shop = DemoShop("http://hub", tmp_path / "channels.json", tmp_path / "skus.json", seed=1)
    shop.client = httpx.Client(transport=httpx.MockTransport(hub))
    shop.skus, shop.prices = ["SKU-1"], {"SKU-1": 1000}
    shop.quiet = quiet
    for _ in range(5):
        shop.tick()
    printed = capsys.readouterr().out.splitlines()
    if quiet:
        assert printed == []
        assert shop.summary(60) == "[演示店铺] 最近 60 秒推送 5 单：已接收 4，重复（幂等） 1"
        assert shop.summary(60) is None  # counted afresh
    else:
        assert len(printed) == 5
