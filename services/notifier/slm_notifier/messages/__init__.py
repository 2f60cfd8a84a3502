"""Messages rendered from templates per event type and language."""

from slm_notifier.messages.render import LANGUAGES, Content, Renderer

__all__ = ["LANGUAGES", "Content", "Renderer"]
