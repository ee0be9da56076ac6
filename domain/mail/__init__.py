"""Outgoing mail: queued in the database in the transaction of the change it tells of, sent after.

``outbox.queue_mail`` adds a mail in the caller's transaction, so a mail exists exactly when its change
committed. ``worker.MailWorker`` (one per process) claims due mails, sends them through the configured
transport (SMTP, or a Maildir without ``INCIDENTDESK_SMTP_URL``) and records each outcome: at least once,
retried with backoff, never lost across restarts.
"""
