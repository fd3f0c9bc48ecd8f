"""syndicate: news feeds in; credited email digests and Telegram posts out, each recorded.

The public surface for adapter authors is these modules, each by its `__all__`;
everything else may change between versions:

- `syndicate.channels.base`: `Channel`, its errors, and the types a channel receives and
  returns (`PostView`, `EditionView`, `Credit`, `SocialPost`, `SendResult`, ...);
- `syndicate.channels.plain`: `PlainTextFallback`, posts and digests as plain text;
- `syndicate.channels.http`: what HTTP channels share (`NEVER_LEFT`, `retry_after`);
- `syndicate.config`: `ConfigTable`, the keys of a channel's table in the settings;
- `syndicate.render.text`: `shorten` and the other measures of text;
- `syndicate.render.safety`: `safe_url` and the other checks a finished message passes.
"""

__version__ = "0.1.0"
__all__ = ["__version__"]
