"""Outgoing mail: queued in the change's transaction, sent by the worker to a real SMTP server (aiosmtpd,
in this process), retried and given up as the settings say, or written to a Maildir that the command
line lists when no server is configured."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from sqlalchemy import Engine, text

from domain.db import Database, Scope
from domain.errors import Refused
from domain.mail.links import LinkRefused, MailLinks
from domain.mail.outbox import queue_mail, queue_notice
from domain.mail.rendering import Link
from domain.mail.transports import MaildirTransport
from domain.mail.worker import MailWorker
from tests import factories as f
from tests.server import free_port
from tests.smtp import Inbox, smtp_server


@pytest.fixture(scope="module")
def smtp() -> Iterator[tuple[Inbox, int]]:
    with smtp_server() as served:
        yield served


@pytest_asyncio.fixture(scope="module")
async def tenant_id(db: Database) -> uuid.UUID:
    return (await f.create_tenant(db, "mailco")).id


async def _queue(db: Database, tenant_id: uuid.UUID, **fields: Any) -> uuid.UUID:
    values = {"to": "someone@example.com", "subject": "Mail is back", "text": "All good.", "reason": "test"}
    values.update(fields)
    async with db.transaction(Scope.of([tenant_id])) as session:
        mail = await queue_mail(session, tenant_id=tenant_id, **values)
        return mail.id


def _row(owner: Engine, mail_id: uuid.UUID) -> Any:
    with owner.connect() as connection:
        return connection.execute(text("SELECT * FROM outgoing_mails WHERE id = :i"), {"i": mail_id}).one()


def _make_due(owner: Engine, mail_id: uuid.UUID) -> None:
    with owner.begin() as connection:
        connection.execute(
            text("UPDATE outgoing_mails SET next_attempt_at = now() WHERE id = :i"), {"i": mail_id}
        )


async def test_a_queued_mail_is_sent_over_smtp_once(
    db: Database, test_db: Any, owner: Engine, tenant_id: uuid.UUID, smtp: tuple[Inbox, int]
) -> None:
    inbox, port = smtp
    settings = f.settings_for(
        test_db, smtp_url=f"smtp://127.0.0.1:{port}?starttls=false", mail_from="desk@example.com"
    )
    worker = MailWorker(db, settings)
    before = len(inbox.messages)
    mail_id = await _queue(
        db,
        tenant_id,
        subject="Mail is back\r\nBcc: everyone@example.com",  # a line break never starts a header
        html="<p>All good.</p>",
        headers={"List-Unsubscribe": "<https://desk.example.com/u/1>"},
    )
    assert await worker.round() is None  # it worked
    assert await worker.round() is not None  # and there is nothing more to send
    [message] = inbox.messages[before:]
    assert inbox.recipients[before] == ["someone@example.com"]
    assert message["To"] == "someone@example.com" and message["From"] == "desk@example.com"
    assert message["Subject"] == "Mail is back Bcc: everyone@example.com" and message["Bcc"] is None
    assert message["Message-ID"] == f"<{mail_id}@incidentdesk>"
    assert message["List-Unsubscribe"] == "<https://desk.example.com/u/1>"
    parts = {part.get_content_type(): part.get_payload(decode=True) for part in message.walk()}
    assert parts["text/plain"].strip() == b"All good." and b"<p>All good.</p>" in parts["text/html"]
    row = _row(owner, mail_id)
    assert row.sent_at is not None and row.attempts == 1 and row.last_error is None


async def test_a_notice_is_written_when_sent_with_signed_links_and_one_click_unsubscribe(
    db: Database, test_db: Any, owner: Engine, tenant_id: uuid.UUID, smtp: tuple[Inbox, int]
) -> None:
    inbox, port = smtp
    settings = f.settings_for(
        test_db, smtp_url=f"smtp://127.0.0.1:{port}?starttls=false", public_url="https://status.example.com"
    )
    async with db.transaction(Scope.of([tenant_id])) as session:
        mail = await queue_notice(
            session,
            tenant_id=tenant_id,
            to="visitor@example.com",
            template="status_subscription_confirm",
            context={"page_name": "Acme <b>Cloud</b>", "services": ["API"], "valid_hours": 48},
            reason="test.notice",
            links={
                "confirm": Link("/status/acme/subscription/confirm", "confirm", {"subscriber": "s1"}),
                "unsubscribe": Link("/status/acme/unsubscribe", "unsubscribe", {"subscriber": "s1"}),
            },
        )
        mail_id = mail.id
    row = _row(owner, mail_id)
    assert row.text_body is None and row.template == "status_subscription_confirm"
    assert row.subject == "Confirm your subscription to Acme <b>Cloud</b> status updates"

    before = len(inbox.messages)
    assert await MailWorker(db, settings).round() is None
    [message] = inbox.messages[before:]
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    unsubscribe = re.fullmatch(
        r"<(https://status\.example\.com/status/acme/unsubscribe\?token=[^>]+)>", message["List-Unsubscribe"]
    )
    assert unsubscribe is not None, message["List-Unsubscribe"]
    parts = {
        part.get_content_type(): part.get_payload(decode=True).decode()
        for part in message.walk()
        if not part.is_multipart()
    }
    assert (
        "Acme <b>Cloud</b>" in parts["text/plain"] and "Acme &lt;b&gt;Cloud&lt;/b&gt;" in parts["text/html"]
    )
    [confirm] = re.findall(
        r"https://status\.example\.com/status/acme/subscription/confirm\?token=(\S+)", parts["text/plain"]
    )
    links = MailLinks.for_settings(settings)
    assert links.open(confirm, "confirm", timedelta(hours=48)) == {"subscriber": "s1"}
    with pytest.raises(LinkRefused):  # a link of one kind never works as another
        links.open(confirm, "unsubscribe", None)
    with pytest.raises(LinkRefused):
        links.open(confirm[:-2] + ("AA" if not confirm.endswith("AA") else "BB"), "confirm", None)
    with pytest.raises(LinkRefused) as expired:
        links.open(confirm, "confirm", timedelta(seconds=-1))
    assert expired.value.expired


async def test_a_mail_exists_only_if_its_change_committed(
    db: Database, owner: Engine, tenant_id: uuid.UUID
) -> None:
    marker = f"rolled back {uuid.uuid4()}"
    with pytest.raises(RuntimeError):
        async with db.transaction(Scope.of([tenant_id])) as session:
            await queue_mail(
                session, tenant_id=tenant_id, to="a@example.com", subject=marker, text="", reason="t"
            )
            raise RuntimeError("the change failed")
    with owner.connect() as connection:
        found = connection.execute(
            text("SELECT count(*) FROM outgoing_mails WHERE subject = :s"), {"s": marker}
        )
        assert found.scalar_one() == 0


@pytest.mark.parametrize(
    "address",
    ["", "two@example.com, three@example.com", "x@example.com\r\nBcc: y@z.com", "nodomain@", "@example.com"],
)
async def test_a_mail_goes_to_one_plain_address(db: Database, tenant_id: uuid.UUID, address: str) -> None:
    with pytest.raises(Refused):
        await _queue(db, tenant_id, to=address)


async def test_reserved_headers_cannot_be_set(db: Database, tenant_id: uuid.UUID) -> None:
    with pytest.raises(ValueError, match="Bcc"):
        await _queue(db, tenant_id, headers={"Bcc": "all@example.com"})


async def test_a_failed_mail_is_retried_with_backoff_then_given_up(
    db: Database, test_db: Any, owner: Engine, tenant_id: uuid.UUID, smtp: tuple[Inbox, int]
) -> None:
    inbox, port = smtp
    closed = free_port()  # nothing listens there
    down = f.settings_for(
        test_db,
        smtp_url=f"smtp://127.0.0.1:{closed}?starttls=false",
        mail_max_attempts=3,
        smtp_timeout_seconds=5,
    )
    worker = MailWorker(db, down)
    mail_id = await _queue(db, tenant_id, subject="retried")
    await worker.round()
    first = _row(owner, mail_id)
    assert first.sent_at is None and first.attempts == 1 and not first.given_up
    assert first.last_error and first.next_attempt_at > first.created_at  # backed off, not due at once
    # The server is back (for this worker): the mail is sent on its next turn.
    _make_due(owner, mail_id)
    up = MailWorker(db, f.settings_for(test_db, smtp_url=f"smtp://127.0.0.1:{port}?starttls=false"))
    before = len(inbox.messages)
    await up.round()
    assert [m["Subject"] for m in inbox.messages[before:]] == ["retried"]
    assert _row(owner, mail_id).sent_at is not None

    doomed = await _queue(db, tenant_id, subject="never sent")
    for attempt in range(1, 4):
        _make_due(owner, doomed)
        await worker.round()
        assert _row(owner, doomed).attempts == attempt
    row = _row(owner, doomed)
    assert row.given_up and row.sent_at is None and "Error" in row.last_error


async def test_without_smtp_mails_go_to_a_maildir_the_cli_lists(
    db: Database, test_db: Any, tenant_id: uuid.UUID, tmp_path: Path
) -> None:
    settings = f.settings_for(test_db, data_dir=tmp_path)
    worker = MailWorker(db, settings)
    assert isinstance(worker.transport, MaildirTransport)
    await _queue(db, tenant_id, subject="to the maildir")
    while await worker.round() is None:
        pass
    listed = _mail_cli(tmp_path, "list")
    assert listed.returncode == 0, listed.stderr
    lines = [json.loads(line) for line in listed.stdout.splitlines()]
    mine = [line for line in lines if line["subject"] == "to the maildir"]
    assert mine and mine[0]["to"] == "someone@example.com"
    shown = _mail_cli(tmp_path, "show", mine[0]["key"])
    assert shown.returncode == 0 and "All good." in shown.stdout


def _mail_cli(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("INCIDENTDESK_")}
    env["INCIDENTDESK_DATA_DIR"] = str(data_dir)
    return subprocess.run(
        [sys.executable, "-m", "api.cli", "mail", *args], env=env, capture_output=True, text=True, timeout=60
    )
