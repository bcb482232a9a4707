"""The MLOps Portal's client: standard library only. ``PortalClient`` from Python, ``mlops-portal`` from a shell."""

from mlops_portal_client.client import PortalClient, PortalError

__all__ = ["PortalClient", "PortalError", "__version__"]
__version__ = "1.0.0"
