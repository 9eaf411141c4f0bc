"""ERP / spreadsheet order import (CSV, XLSX exports from 旺店通, 聚水潭, other ERPs, or hand-made sheets).

``parser`` is the pure part: bytes → :class:`~orderhub.channels.erp_file.parser.Table`, a saved column mapping
(column → unified field) → :class:`~orderhub.channels.erp_file.parser.ImportPlan` of
:class:`~orderhub.orders.commands.NewOrder` commands plus per-row errors. No database, no network.
"""

from __future__ import annotations

__all__: list[str] = []
