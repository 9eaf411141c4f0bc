"""Insights as a domain context: the rollups the managers' figures are read from (counters per 15-minute bucket ×
channel × warehouse, order counts by status, per operator and day), kept up to date in the transaction of the events
they count, rebuilt from the event logs on demand, and the queries that read them (never the orders)."""
