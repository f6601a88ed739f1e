"""Moderation: hide, flag, lock, suspend, roles, and the audit log of every moderator action."""
