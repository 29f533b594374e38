"""The fleet console (docs/console.md): a page served by the api at `/`, plain HTML, CSS and
JavaScript modules shipped as package data (no framework, nothing fetched from elsewhere),
over the api's own endpoints."""

from .routes import router

__all__ = ["router"]
