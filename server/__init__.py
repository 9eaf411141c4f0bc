"""The top floor: the composition root (app factory, worker, CLI, migrations, demo) and the explicit wiring."""
