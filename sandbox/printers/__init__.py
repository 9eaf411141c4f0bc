"""Local simulators of label printers on the network (a Zebra taking ZPL on its raw TCP port today).

Production code never imports this package.
"""

from __future__ import annotations

from sandbox.printers.zpl_printer import Label, ZplPrinter, running_printer

__all__ = ["Label", "ZplPrinter", "running_printer"]
