"""paperboy: a daily digest bot for trending research papers."""

__version__ = "0.1.0"
