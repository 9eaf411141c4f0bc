"""Finance: what each order should pay out, the platforms' settlement data, and the reconciliation between them
(docs/finance.md)."""
