"""The catalog context's error codes (see :class:`orderhub.errors.ErrorCode`)."""

from __future__ import annotations

from orderhub.errors import ErrorCode

__all__ = ["CatalogError"]


class CatalogError(ErrorCode):
    """Catalog: SKUs and their barcodes."""

    DUPLICATE_BARCODE = "duplicate_barcode", "条码已属于其他商品", "The barcode already belongs to another SKU."
