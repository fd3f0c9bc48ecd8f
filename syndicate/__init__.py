"""syndicate: news feeds in; credited email digests and Telegram posts out, each recorded.

The public surface for adapter authors is `syndicate.channels.base`; everything else may
change between versions.
"""

__version__ = "0.1.0"
__all__ = ["__version__"]
