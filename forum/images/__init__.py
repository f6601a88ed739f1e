"""Images in replies: rendered as links, or served through the forum's own signed image proxy,
so that a reader's browser never loads anything from another site (no tracking pixels)."""
