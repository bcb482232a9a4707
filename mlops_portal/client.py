"""``python -m mlops_portal.client``: an alias of the client package ``mlops_portal_client`` kept for scripts
written against it. Install the client with ``pip install ./client`` and run ``mlops-portal`` instead: it needs
only the standard library, where this module starts from the portal's package (and so imports Celery).
"""

import sys
from pathlib import Path

try:
    import mlops_portal_client  # noqa: F401 - installed with pip install ./client
except ImportError:
    # A checkout of the portal without the client installed: use the copy beside this package.
    sys.path.append(str(Path(__file__).resolve().parents[1] / "client"))

from mlops_portal_client.cli import main
from mlops_portal_client.client import PortalClient, PortalError

__all__ = ["PortalClient", "PortalError", "main"]

if __name__ == "__main__":
    sys.exit(main())
