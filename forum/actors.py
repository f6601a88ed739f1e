"""Who acts when nobody is signed in: the command line, named explicitly.

Services that take an actor take a `User` or `SYSTEM`, never None: "no user" means a signed-out
visitor, who may do nothing that needs rights, and must never be mistaken for the shell.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final


@dataclass(frozen=True)
class SystemActor:
    """The command line, trusted because it runs with the server's own access."""

    #: How the audit log names it.
    username: str = "(command line)"
    id: None = None


SYSTEM: Final = SystemActor()
