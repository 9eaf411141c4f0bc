"""Reports (issue 18): the weekly report (KPIs, health by region, volume by channel, reconciliation, the month's
errors) as a PDF with server-drawn charts, and the daily reconciliation report per channel as XLSX and PDF; the files
kept in ``report_file`` for download and the weekly one pushed to managers through WeCom (docs/reports.md)."""
