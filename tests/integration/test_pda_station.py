"""What the H5 PDA client needs from the hub, through the running hub: stops that carry the SKU's barcodes and
picture (an offline item check, the picker's screen), the walk still ahead of a task, and the pack station's label
printing — its settings (PATCH /api/v1/picking/devices/{code}, GET /pda/v1/station) and a ZPL label sent over raw
TCP to a network printer (sandbox/printers/zpl_printer.py, written from Zebra's documentation)."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import httpx

from sandbox.carriers.server import CarrierServer
from sandbox.printers import ZplPrinter
from tests.integration.test_picking import Floor, Pda
from tests.integration.test_waybills import _packed_order, sf_floor
from tests.support.factories import Api, unique
from tests.support.hub import Hub

SPACING_M, BAY_M = 3.0, 1.0  # the warehouse's walking model (the picking settings' defaults)


def _from_depot(location: str) -> float:
    """Floor's locations are A{aisle:02d}-{bay:02d}, aisles 01..04 → walking-order index 0..3, the depot at x = 0."""
    aisle, bay = (int(part) for part in location[1:].split("-"))
    return (aisle - 1) * SPACING_M + (bay - 0.5) * BAY_M


async def test_stops_carry_barcodes_and_pictures_and_the_walk_left_shrinks_to_zero(api: Api, store: Hub) -> None:
    floor = await Floor(api, store.url).setup()
    s1, s2, s3, _ = floor.codes
    pictures = {s1: "https://img.example.com/sku/1.png", s2: "/static/sku/2.jpg"}
    async with api.client() as client:
        for code, url in pictures.items():
            r = await client.patch(f"/api/v1/skus/{code}", json={"image_url": url})
            assert r.status_code == 200 and r.json()["image_url"] == url, r.text
        for bad in ("ftp://img.example.com/1.png", "//evil.example.com/1.png", "img/1.png", "https://", "/a b.png"):
            r = await client.patch(f"/api/v1/skus/{s3}", json={"image_url": bad})
            assert r.status_code == 422 and r.json()["field"] == "image_url", (bad, r.text)
        r = await client.post(
            "/api/v1/skus", json={"code": unique("SKU-"), "name": "坏图", "image_url": "javascript:alert(1)"}
        )
        assert r.status_code == 422 and r.json()["field"] == "image_url", r.text
        assert (await client.get(f"/api/v1/skus/{s3}")).json()["image_url"] == ""
        r = await client.patch(f"/api/v1/picking/{floor.warehouse}/settings", json={"pick_mode": "order"})
        assert r.status_code == 200, r.text
    (order_id,) = await floor.orders([(s1, 1), (s2, 2), (s3, 1)])
    (task_id,) = (await floor.wave([order_id]))["task_ids"]
    pda = await Pda.sign_in(floor.url, await floor.person("picker"))
    r = await pda.http.post(f"/pda/v1/tasks/{task_id}/claim")
    assert r.status_code == 200, r.text
    task = r.json()

    for stop in task["stops"]:
        assert stop["barcodes"] == [floor.skus[stop["sku"]]["barcode"]]
        assert stop["image_url"] == pictures.get(stop["sku"])  # None: the SKU has no picture
    # the walk ahead: from the first stop through the others back to the depot — the planned route without its
    # first leg (both rounded to 0.1 m)
    first = next(s for s in task["stops"] if s["line_id"] == task["next_line"])
    assert 0 < task["remaining_m"] < task["route_m"]
    assert abs(task["remaining_m"] + _from_depot(first["location"]) - task["route_m"]) <= 0.11, task

    walked = [task["remaining_m"]]
    while task["next_line"] is not None:
        stop = next(s for s in task["stops"] if s["line_id"] == task["next_line"])
        r = await pda.scan(task_id, stop["line_id"], "item", barcode=stop["barcodes"][0], qty=stop["qty"],
                           location=stop["location"])
        assert r.status_code == 200, r.text
        assert r.json()["line"]["barcodes"] == stop["barcodes"]  # the scan's answer carries the stop too
        task = (await pda.http.get(f"/pda/v1/tasks/{task_id}")).json()
        walked.append(task["remaining_m"])
    assert walked == sorted(walked, reverse=True) and len(set(walked)) == len(walked), walked  # strictly down
    assert walked[-1] == 0 and task["remaining"] == 0
    # the last stop alone: its walk back to the depot
    assert abs(walked[-2] - _from_depot(stop["location"])) <= 0.11, walked
    done = await pda.http.post(f"/pda/v1/tasks/{task_id}/complete")
    assert done.status_code == 200 and done.json()["remaining_m"] == 0, done.text
    await pda.close()


def _closed_port() -> int:
    """A local port nothing listens on (connections to it are refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


async def test_a_pack_station_prints_the_label_on_its_network_printer(
    api: Api, store: Hub, carriers: CarrierServer
) -> None:
    floor, _ = await sf_floor(api, store, carriers)
    order_id, station, pack_id = await _packed_order(floor)
    r = await station.http.post(f"/pda/v1/pack/{pack_id}/waybill")
    assert r.status_code == 200, r.text
    number = r.json()["waybill_no"]
    device = station.device

    # registered as a browser-printing station: it says so, and the hub has no printer to send to
    me = await station.http.get("/pda/v1/station")
    assert me.status_code == 200, me.text
    assert me.json() == {
        "device": device, "name": device, "kind": "pack_station", "warehouse": floor.warehouse,
        "label_format": "pdf", "printer_address": "",
    }
    r = await station.http.post(f"/pda/v1/pack/{pack_id}/print")
    assert r.status_code == 409 and r.json()["code"] == "printer_not_configured", r.text

    async with api.client() as client, ZplPrinter() as printer:
        refused: list[tuple[dict[str, Any], str]] = [
            ({"label_format": "zpl"}, "printer_address"),  # zpl needs an address
            ({"label_format": "epl"}, "label_format"),
            ({"label_format": "zpl", "printer_address": "10.0.0.5:70000"}, "printer_address"),
            ({"label_format": "zpl", "printer_address": "10.0.0.5:0"}, "printer_address"),
            ({"label_format": "zpl", "printer_address": "printer one:9100"}, "printer_address"),
            ({"label_format": "zpl", "printer_address": "10.0.0.5:"}, "printer_address"),
        ]
        for body, field in refused:
            r = await client.patch(f"/api/v1/picking/devices/{device}", json=body)
            assert r.status_code == 422 and r.json()["field"] == field, (body, r.text)
        r = await client.patch("/api/v1/picking/devices/no-such-device", json={"label_format": "pdf"})
        assert r.status_code == 404, r.text
        r = await client.patch(
            f"/api/v1/picking/devices/{device}", json={"label_format": "zpl", "printer_address": printer.address}
        )
        assert r.status_code == 200, r.text
        assert (r.json()["label_format"], r.json()["printer_address"]) == ("zpl", printer.address)
        me = (await station.http.get("/pda/v1/station")).json()
        assert (me["label_format"], me["printer_address"]) == ("zpl", printer.address)

        r = await station.http.post(f"/pda/v1/pack/{pack_id}/print")
        assert r.status_code == 200, r.text
        assert r.json()["printed"] is True and r.json()["printer"] == printer.address
        (label,) = await printer.wait_for(1)
        for _ in range(100):  # (the line break after the ^XZ may come in a read of its own)
            if printer.received >= r.json()["bytes"]:
                break
            await asyncio.sleep(0.01)
        assert printer.received == r.json()["bytes"] > len(label.raw)
        assert label.text.startswith("^XA") and label.text.endswith("^XZ")
        assert f"^FD{number}^FS" in label.text  # the waybill number, as the barcode and the text print it
        assert printer.connections == 1 and printer.dropped == 0

        # a pack station of another role cannot print: a picker's session packs nothing
        picker = await Pda.sign_in(floor.url, await floor.person("picker"))
        r = await picker.http.post(f"/pda/v1/pack/{pack_id}/print")
        assert r.status_code == 403, r.text
        await picker.close()

        # the printer is off (nothing listens there): 502 with a zh-CN message, nothing printed
        gone = f"127.0.0.1:{_closed_port()}"
        r = await client.patch(f"/api/v1/picking/devices/{device}", json={"printer_address": gone})
        assert r.status_code == 200 and r.json()["label_format"] == "zpl", r.text
        r = await station.http.post(f"/pda/v1/pack/{pack_id}/print")
        assert r.status_code == 502, r.text
        assert r.json()["code"] == "printer_unreachable" and "打印机无法连接" in r.json()["message"]
        assert r.json()["printer"] == gone
        assert len(printer.labels) == 1

        # back to the browser's PDF: the address may stay, the hub sends nothing
        r = await client.patch(f"/api/v1/picking/devices/{device}", json={"label_format": "pdf"})
        assert r.status_code == 200 and r.json()["printer_address"] == gone, r.text
        r = await station.http.post(f"/pda/v1/pack/{pack_id}/print")
        assert r.status_code == 409 and r.json()["code"] == "printer_not_configured", r.text
    await station.close()
    assert order_id > 0


async def test_a_station_registered_with_a_printer_gets_port_9100_by_default(api: Api, store: Hub) -> None:
    floor = await Floor(api, store.url).setup(skus=1)
    code = unique("PACK-")
    async with api.client() as client:
        r = await client.post(
            "/api/v1/picking/devices",
            json={"code": code, "warehouse": floor.warehouse, "kind": "pack_station", "label_format": "zpl",
                  "printer_address": " zebra-01.floor.local "},
        )
        assert r.status_code == 201, r.text
        assert (r.json()["label_format"], r.json()["printer_address"]) == ("zpl", "zebra-01.floor.local:9100")
        r = await client.post(
            "/api/v1/picking/devices",
            json={"code": unique("PACK-"), "warehouse": floor.warehouse, "kind": "pack_station",
                  "label_format": "zpl"},
        )
        assert r.status_code == 422 and r.json()["field"] == "printer_address", r.text
        r = await client.patch(f"/api/v1/picking/devices/{code}", json={"printer_address": "[fd00::5]:9101"})
        assert r.status_code == 200 and r.json()["printer_address"] == "[fd00::5]:9101", r.text
        listed = (await client.get("/api/v1/picking/devices")).json()
    assert next(d for d in listed if d["code"] == code)["label_format"] == "zpl"
    async with httpx.AsyncClient(base_url=store.url) as anonymous:
        r = await anonymous.get("/pda/v1/station")
    assert r.status_code == 401, r.text
