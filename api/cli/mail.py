"""``incidentdesk mail``: the mails written to the Maildir when no SMTP server is configured."""

from __future__ import annotations

import argparse
import mailbox
from email.utils import parsedate_to_datetime

from api.cli.common import UsageError, print_json
from domain.mail.transports import maildir_path
from domain.settings import Settings


def _box(settings: Settings) -> mailbox.Maildir:
    return mailbox.Maildir(maildir_path(settings), create=True)


def cmd_mail_list(args: argparse.Namespace, settings: Settings) -> int:
    """The newest mails, oldest of them first: one JSON object a line (key, date, to, subject)."""
    box = _box(settings)
    found = []
    for key, message in box.items():
        stamp = message.get("Date")
        found.append((parsedate_to_datetime(stamp) if stamp else None, key, message))
    found.sort(key=lambda item: (item[0] is None, item[0] or 0, item[1]))
    for date, key, message in found[-args.limit :]:
        print_json(
            {
                "key": key,
                "date": date.isoformat() if date else None,
                "to": message.get("To"),
                "subject": message.get("Subject"),
            }
        )
    return 0


def cmd_mail_show(args: argparse.Namespace, settings: Settings) -> int:
    """One mail as it was sent (headers and every part)."""
    try:
        message = _box(settings)[args.key]
    except KeyError:
        raise UsageError(f"no mail {args.key!r} in {maildir_path(settings)}") from None
    print(message.as_string())
    return 0
