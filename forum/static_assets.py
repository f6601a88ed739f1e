"""Static files under content-hashed addresses, cached by browsers for a year.

Templates ask `static_url("forum.css")` and get `/static/forum.css?v=<hash of its bytes>`: a new
deploy that changes a file changes its address, so the old address may be cached forever
(`immutable`). The file is served from its plain path, so the hash is only a query string; a
response carries the long cache only when the query names the file's current hash (a stale or
missing `v` gets `no-cache`, revalidated with the ETag, so nobody keeps an old file for a year
under an address that now means another).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from starlette.datastructures import QueryParams
from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from forum.settings import PROJECT_ROOT

IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"
#: Hex digits of the SHA-256 kept in an address: enough that two versions never collide.
HASH_LENGTH = 12


@dataclass(frozen=True)
class _Fingerprint:
    size: int
    mtime_ns: int
    digest: str


class StaticAssets:
    """Where each static folder is served, and the hashes of the files in it."""

    def __init__(self, folders: dict[str, Path]) -> None:
        #: URL prefix (e.g. "/static/vendor/htmx") -> folder, longest prefix first.
        self.folders = dict(sorted(folders.items(), key=lambda item: -len(item[0])))
        self._fingerprints: dict[Path, _Fingerprint] = {}

    def digest(self, path: Path) -> str | None:
        """The short hash of a file's bytes (None when it is not there); read again only when
        its size or modification time changed, so an edit during development shows at once."""
        try:
            stat = path.stat()
        except OSError:
            return None
        known = self._fingerprints.get(path)
        if known is not None and (known.size, known.mtime_ns) == (stat.st_size, stat.st_mtime_ns):
            return known.digest
        digest = hashlib.sha256(path.read_bytes()).hexdigest()[:HASH_LENGTH]
        self._fingerprints[path] = _Fingerprint(stat.st_size, stat.st_mtime_ns, digest)
        return digest

    def url(self, name: str) -> str:
        """The address of a static file, e.g. "forum.css" or "vendor/htmx/htmx.min.js", with
        its hash; a name that is no file raises (a broken page is better found at once)."""
        path = "/static/" + name.lstrip("/")
        for prefix, folder in self.folders.items():
            if path.startswith(prefix + "/"):
                digest = self.digest(folder / path.removeprefix(prefix + "/"))
                if digest is None:
                    break
                return f"{path}?v={digest}"
        raise LookupError(f"no static file {name!r}")

    def files(self, prefix: str) -> HashedStaticFiles:
        """The ASGI app serving the folder mounted at prefix."""
        return HashedStaticFiles(directory=self.folders[prefix], assets=self, check_dir=False)


class HashedStaticFiles(StaticFiles):
    """StaticFiles that answers a hashed address with a year's immutable cache."""

    def __init__(self, *, directory: Path, assets: StaticAssets, check_dir: bool = True) -> None:
        super().__init__(directory=directory, check_dir=check_dir)
        self.assets = assets

    def file_response(
        self,
        full_path: str | os.PathLike[str],
        stat_result: os.stat_result,
        scope: Scope,
        status_code: int = 200,
    ) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        asked = QueryParams(scope["query_string"]).get("v")
        current = self.assets.digest(Path(full_path))
        response.headers["cache-control"] = (
            IMMUTABLE if asked is not None and asked == current else REVALIDATE
        )
        return response


#: The forum's own files and the vendored htmx (from node_modules).
ASSETS = StaticAssets(
    {
        "/static": PROJECT_ROOT / "static",
        "/static/vendor/htmx": PROJECT_ROOT / "node_modules" / "htmx.org" / "dist",
    }
)
