"""Mails about what happens: produced from the live-event stream, in each event's own transaction.

``producers`` decides, for every incident or bulletin event as it is recorded, who is told by mail
(status page subscribers, an incident's reporter and watchers, assigned staff) and queues a notice for
each (``domain/mail``); the mail worker writes and sends them after commit.
"""
