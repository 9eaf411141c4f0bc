"""The event → counter mapping of the rollups (orderhub.insights.deltas): which counters an order event or a PDA scan
moves, in which bucket, for which warehouse."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from orderhub.insights.deltas import (
    SHARDS,
    Deltas,
    EventIn,
    OrderFacts,
    ScanIn,
    apply_order_event,
    apply_scan,
    bucket_of,
    cycle_column,
    needs_warehouse,
)

AT = datetime(2026, 11, 11, 2, 7, 30, tzinfo=UTC)
PAID = AT - timedelta(minutes=100)
FACTS = OrderFacts(channel=4, paid_fen=5990, paid_at=PAID, ship_by=AT + timedelta(hours=1))
ORDER = 17
SHARD = ORDER % SHARDS


def _status(source: str, target: str, *, at: datetime = AT, **extra: object) -> EventIn:
    return EventIn(order_id=ORDER, type="order.status_changed", from_status=source, to_status=target, at=at, **extra)  # type: ignore[arg-type]


def _replay(events: list[EventIn], facts: OrderFacts = FACTS) -> tuple[Deltas, int]:
    deltas, warehouse = Deltas(), 0
    for event in events:
        warehouse = apply_order_event(deltas, facts, event, warehouse)
    return deltas, warehouse


def test_buckets_are_fifteen_minutes_in_utc() -> None:
    assert bucket_of(AT) == datetime(2026, 11, 11, 2, 0, tzinfo=UTC)
    assert bucket_of(datetime(2026, 11, 11, 2, 15, tzinfo=UTC)) == datetime(2026, 11, 11, 2, 15, tzinfo=UTC)


def test_an_order_through_the_pipeline_to_shipped() -> None:
    bucket = bucket_of(AT)
    deltas, warehouse = _replay(
        [
            EventIn(order_id=ORDER, type="order.received", to_status="received", at=AT),
            EventIn(order_id=ORDER, type="order.rule_fired", reason="vip", at=AT),
            _status("received", "validated"),
            _status("validated", "ready", warehouse_ids=(3,)),
            _status("ready", "picking"),
            _status("picking", "packed"),
            _status("packed", "shipped"),
        ]
    )
    assert warehouse == 3
    assert dict(deltas.buckets[(bucket, 4, 0, SHARD)]) == {"received": 1, "received_fen": 5990}
    routed = deltas.buckets[(bucket, 4, 3, SHARD)]
    assert routed["routed"] == 1 and routed["packed"] == 1 and routed["shipped"] == 1
    assert routed["shipped_with_sla"] == 1 and routed["shipped_on_time"] == 1
    assert routed["cycle_count"] == 1 and routed["cycle_seconds"] == 6000 and routed["cycle_le_120"] == 1
    # status counts: in and out of each status, pre-routing ones under warehouse 0
    assert {k: v for k, v in deltas.statuses.items() if v} == {(4, 3, SHARD, "shipped"): 1}


def test_a_late_shipment_is_not_on_time_and_an_order_without_ship_by_is_not_rated() -> None:
    late = OrderFacts(channel=4, paid_fen=1, paid_at=None, ship_by=AT - timedelta(seconds=1))
    deltas, _ = _replay([_status("validated", "ready", warehouse_ids=(3,)), _status("ready", "shipped")], late)
    counters = deltas.buckets[(bucket_of(AT), 4, 3, SHARD)]
    assert counters["shipped_with_sla"] == 1 and counters["shipped_on_time"] == 0 and counters["cycle_count"] == 0
    loose = OrderFacts(channel=4)
    deltas, _ = _replay([_status("validated", "ready", warehouse_ids=(3,)), _status("ready", "shipped")], loose)
    assert deltas.buckets[(bucket_of(AT), 4, 3, SHARD)]["shipped_with_sla"] == 0


def test_exceptions_holds_and_cancellations_by_reason_and_warehouse() -> None:
    bucket = bucket_of(AT)
    deltas, _ = _replay(
        [
            EventIn(order_id=ORDER, type="order.received", to_status="received", at=AT),
            _status("received", "validated"),
            _status("validated", "exception", reason="bad_address"),  # before routing: warehouse 0
            _status("exception", "received"),
            _status("received", "validated"),
            _status("validated", "ready", warehouse_ids=(3,)),
            _status("ready", "held", reason="规则挂起", queue="approval"),
            _status("held", "cancelled", reason="买家取消"),
        ]
    )
    assert deltas.reasons[(bucket, 4, 0, SHARD, "exception", "bad_address")] == 1
    assert deltas.reasons[(bucket, 4, 3, SHARD, "held", "approval")] == 1
    assert deltas.reasons[(bucket, 4, 3, SHARD, "cancelled", "买家取消")] == 1
    assert deltas.buckets[(bucket, 4, 3, SHARD)]["cancelled_fen"] == 5990
    assert {k: v for k, v in deltas.statuses.items() if v} == {(4, 3, SHARD, "cancelled"): 1}


def test_a_split_order_counts_for_warehouse_zero() -> None:
    deltas, warehouse = _replay([_status("validated", "ready", warehouse_ids=(3, 5))])
    assert warehouse == 0 and deltas.buckets[(bucket_of(AT), 4, 0, SHARD)]["routed"] == 1


def test_which_events_need_the_warehouse_before_them() -> None:
    assert not needs_warehouse(_status("received", "validated"))
    assert not needs_warehouse(_status("validated", "ready", warehouse_ids=(3,)))
    assert needs_warehouse(_status("ready", "received"))
    assert needs_warehouse(_status("validated", "held"))
    assert needs_warehouse(EventIn(order_id=ORDER, type="order.short_picked", at=AT))
    assert not needs_warehouse(EventIn(order_id=ORDER, type="order.routed", at=AT))


def test_cycle_histogram_columns() -> None:
    assert cycle_column(0) == "cycle_le_15"
    assert cycle_column(15 * 60) == "cycle_le_15"
    assert cycle_column(15 * 60 + 1) == "cycle_le_30"
    assert cycle_column(3 * 86400) == "cycle_gt_2880"


def test_scans_count_into_the_operators_day_in_shanghai() -> None:
    deltas = Deltas()
    quality: dict[int, list[int]] = {}
    late = datetime(2026, 11, 11, 16, 30, tzinfo=UTC)  # 00:30 on the 12th in Shanghai

    def scan(kind: str, ok: bool = True, error: str = "", qty: int = 0, at: datetime = AT, order: int = 9) -> None:
        apply_scan(
            deltas,
            ScanIn(user_id=7, warehouse_id=3, kind=kind, ok=ok, error=error, qty=qty, order_id=order, at=at),
            quality,
        )

    scan("location")
    scan("item", ok=False, error="wrong_item")
    scan("item", qty=2)
    scan("item", ok=False, error="task_not_yours")  # refused, but not a mistake
    scan("pack_item", at=late)
    scan("weigh", ok=False, error="weight_mismatch", at=late)
    scan("weigh", at=late)
    scan("pack_item", at=late, order=10)
    scan("weigh", at=late, order=10)
    pick = deltas.operators[(date(2026, 11, 11), 3, 7, "pick")]
    assert dict(pick) == {"scans": 4, "wrong_scans": 1, "item_scans": 1, "units": 2}
    pack = deltas.operators[(date(2026, 11, 12), 3, 7, "pack")]
    assert pack["orders_packed"] == 2 and pack["first_pass_ok"] == 1 and pack["weight_mismatches"] == 1
    assert pack["units"] == 2
    assert dict(deltas.quality) == {9: [2, 1], 10: [0, 1]}
    assert deltas.first_last[(date(2026, 11, 11), 3, 7, "pick")] == (int(AT.timestamp()), int(AT.timestamp()))
