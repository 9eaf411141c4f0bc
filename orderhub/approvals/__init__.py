"""Approvals as a domain context (docs/approvals.md): flows kept as versioned data (``flows``, ``model``), requests
of several kinds whose decisions act on orders and stock (``kinds``, plugged in through ``port.KINDS``), the actions
people take and expiry (``engine``: every action a conditional update, one decision however many taps), who decides
(``people``), the hash-chained audit trail (``audit``), inboxes and views (``inbox``) and what the layers above hear
(``live``: in-transaction hooks, the ``approvals`` feed topics)."""

from __future__ import annotations
