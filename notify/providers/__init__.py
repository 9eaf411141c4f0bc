"""Message providers behind the notifier port (one module each; ``server.wiring.wire()`` registers them)."""
