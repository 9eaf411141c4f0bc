"""After-sale cases (售后单) over HTTP, ``/api/v1/aftersales``: create, list, read, approve / reject / refund / close
(docs/aftersales.md)."""
