"""Accounts: registration, sign-in, server-side sessions and CSRF tokens."""
