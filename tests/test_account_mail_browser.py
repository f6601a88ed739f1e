"""A person in Chromium: registers with an address, confirms it from the mail, forgets the
password, resets it from the mail and signs in with the new one (mail as files, MAIL_DIR)."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import cast

import pytest
from playwright.sync_api import Browser, expect

from tests.conftest import LiveServer, scratch_database, start_server, stop_server, unique_name

NEW_PASSWORD = "a fresh passphrase here"


@pytest.fixture(scope="module")
def filed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, Path]]:
    """A forum whose mail goes to files in a folder of its own."""
    folder = tmp_path_factory.mktemp("browser-mail")
    with scratch_database(folder) as database_url:
        process, live = start_server(database_url, folder, MAIL_DIR=str(folder / "mail"))
        try:
            yield live, folder / "mail"
        finally:
            stop_server(process)


def mailed_link(folder: Path, to: str, subject: str, path: str) -> str:
    """The link to path in the mail with this subject to this address (waiting for it)."""
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        for file in sorted(folder.glob("*.eml")) if folder.exists() else []:
            message = cast(
                EmailMessage, BytesParser(policy=policy.default).parsebytes(file.read_bytes())
            )
            if message["To"] == to and message["Subject"] == subject:
                plain = cast(EmailMessage, message.get_body(("plain",))).get_content()
                found = re.search(re.escape(path) + r"\?token=[A-Za-z0-9_-]+", plain)
                assert found is not None, plain
                return found[0]
        time.sleep(0.05)
    pytest.fail(f"no mail “{subject}” to {to}")


def test_confirm_the_address_then_reset_a_forgotten_password(
    browser: Browser, filed: tuple[LiveServer, Path]
) -> None:
    server, folder = filed
    username = unique_name("reader")
    email = f"{username}@example.org"
    context = browser.new_context(base_url=server.url)
    page = context.new_page()
    try:
        page.goto("/register")
        page.get_by_label("Username").fill(username)
        page.get_by_label("Password").fill("the first passphrase")
        page.get_by_label("Email (optional)").fill(email)
        page.get_by_role("button", name="Create account").click()
        expect(page.get_by_text(f"Signed in as {username}")).to_be_visible()

        page.goto(mailed_link(folder, email, "Confirm your email address", "/verify-email"))
        page.get_by_role("button", name="Confirm my address").click()
        expect(page.get_by_role("heading", name="Address confirmed")).to_be_visible()
        page.get_by_role("button", name="Sign out").click()

        page.goto("/login")
        page.get_by_role("link", name="Forgot password?").click()
        page.get_by_label("Username or email").fill(username)
        page.get_by_role("button", name="Mail me a reset link").click()
        expect(page.get_by_role("heading", name="Check your mail")).to_be_visible()

        page.goto(mailed_link(folder, email, "Reset your password", "/reset-password"))
        page.get_by_label("New password").fill(NEW_PASSWORD)
        page.get_by_role("button", name="Set the new password").click()
        expect(page.get_by_role("heading", name="Password changed")).to_be_visible()

        page.goto("/login")
        page.get_by_label("Username").fill(username)
        page.get_by_label("Password").fill(NEW_PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_text(f"Signed in as {username}")).to_be_visible()
    finally:
        context.close()
