"""Replies: writing them (service), reading threads (thread), and their HTML and JSON routes."""
