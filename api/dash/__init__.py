"""The managers' three-tier dashboards and their drill-downs (`/api/v1/dash/…`, docs/dashboards.md)."""
