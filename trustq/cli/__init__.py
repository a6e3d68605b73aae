"""The ``trustq`` command: one module per group of commands, registered on one Typer app.

The commands import the services they run inside their functions: ``trustq --help`` and
the light commands (``enqueue``, ``verdict``, ``status``) then start without loading torch,
which the tests and scripts that call the CLI many times would otherwise wait for.
"""

# isort: off
# In the order ``trustq --help`` lists them: taking profiles in first.
from trustq.cli import (  # noqa: F401 - each module registers its commands on the app
    intake,
    worker,
    verdicts,
    labels,
    training,
    models,
    api,
    webhooks,
    status,
    db,
    demo,
)

# isort: on
from trustq.cli.common import app

__all__ = ["app"]
