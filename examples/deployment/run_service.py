"""Launches one service of the shop from its ``config.yml``, as any Minos 0.7 microservice starts:

    python run_service.py order/config.yml

Values of the config can be overridden with ``MINOS_*`` environment variables (``MINOS_DATABASES_DEFAULT_HOST``,
``MINOS_INTERFACES_BROKER_COMMON_PORT``...), which is how ``e2e.py`` points the services at its servers.
"""

from __future__ import annotations

import sys
from pathlib import Path

from minos.common import EntrypointLauncher

if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))  # the ``shop`` package the configs name
    EntrypointLauncher.from_config(Path(sys.argv[1]).resolve()).launch()
