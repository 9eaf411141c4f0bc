"""Approvals: flows (``/api/v1/approvals/flows``), requests and the actions on them (``…/requests``), each person's
inbox (``…/inbox``) and the audit trail (``…/audit``), docs/approvals.md#http-api."""
