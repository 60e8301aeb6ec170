"""The HTTP layer: a thin FastAPI app over :class:`rig.service.Rig`, and the phone page."""

from web.app import create_app

__all__ = ["create_app"]
