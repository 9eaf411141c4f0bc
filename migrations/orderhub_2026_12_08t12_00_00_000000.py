"""What the H5 PDA client needs from the hub (issue 21): a SKU's picture (``sku.image_url``, shown on the picker's stop)
and each pack station's label printing (``pda_device.label_format`` — ``pdf``: the browser prints the PDF, ``zpl``:
the hub sends ZPL to the station's network printer — and ``pda_device.printer_address``, ``host:port``). Written by
hand (helper "pda-server", issue 21)."""

from typing import Any

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import Varchar
from piccolo.columns.indexes import IndexMethod

ID = "2026-12-08T12:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "sku: image_url; pda_device: label_format, printer_address"


def _params(**given: Any) -> dict[str, Any]:
    params: dict[str, Any] = {
        "null": False,
        "primary_key": False,
        "unique": False,
        "index": False,
        "index_method": IndexMethod.btree,
        "choices": None,
        "db_column_name": None,
        "secret": False,
    }
    params.update(given)
    return params


# (table class, table, column, column class, params)
COLUMNS: list[tuple[str, str, str, type, dict[str, Any]]] = [
    ("Sku", "sku", "image_url", Varchar, _params(length=500, default="")),
    ("PdaDevice", "pda_device", "label_format", Varchar, _params(length=8, default="pdf")),
    ("PdaDevice", "pda_device", "printer_address", Varchar, _params(length=255, default="")),
]


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="orderhub", description=DESCRIPTION)
    for class_name, table, name, column_class, params in COLUMNS:
        manager.add_column(
            table_class_name=class_name,
            tablename=table,
            column_name=name,
            db_column_name=name,
            column_class_name=column_class.__name__,
            column_class=column_class,
            params=params,
            schema=None,
        )
    return manager
