"""Notifications as a domain context: the outbox, templates, contacts, settings, their tables and the Notifier port.

Providers (WeChat, WeCom, Aliyun SMS) live in the integration floor, ``notify/providers/``, and are registered by the
composition root (``server.wiring``)."""
