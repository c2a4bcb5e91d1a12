"""The App and its services as our types, for the screens and widgets that read them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .app import ImageWorksApp
    from .services import Services


class AppAccess:
    """Mixed into a Textual Screen or Widget (which supplies ``app``)."""

    app: Any

    @property
    def iw_app(self) -> ImageWorksApp:
        return self.app

    @property
    def services(self) -> Services:
        return self.app.services
