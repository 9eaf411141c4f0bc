"""Message providers behind the notifier port (one module each; each registers itself on import)."""
