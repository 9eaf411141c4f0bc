"""The reports kept for download (``report_file``): one row per generated file, its bytes in the row (a weekly PDF
is a few hundred KB; the database is what every hub process shares, whatever machine it runs on)."""

from __future__ import annotations

from piccolo.columns import Bytea, Date, Integer, Serial, Timestamptz, Varchar
from piccolo.table import Table

__all__ = ["ReportFile"]


class ReportFile(Table, tablename="report_file"):
    id: Serial  # the primary key piccolo adds; declared for type checkers
    kind = Varchar(length=16, index=True)  # weekly | daily_recon
    period = Varchar(length=32, index=True)  # weekly: ISO week 2026-W50; daily_recon: the day 2026-12-07
    period_start = Date()  # the week's Monday / the day (Asia/Shanghai)
    channel_id = Integer(default=0)  # daily_recon: the channel, 0 = every channel
    format = Varchar(length=8)  # pdf | xlsx
    filename = Varchar(length=128)
    size = Integer(default=0)  # bytes
    content = Bytea()
    created_at = Timestamptz(index=True)
    created_by = Varchar(length=64, default="system")  # system (the Monday cron) or user:<name>
    pushed = Integer(default=0)  # WeCom messages written for it (weekly)
