"""Customs: SKUs' declaration data, destination rule packs, the declaration documents."""
