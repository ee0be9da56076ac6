"""Visitors of a tenant's public status page who follow it by mail.

A visitor subscribes with an address to all of the page's services or to some (``service``); nothing is
sent to the address but a confirmation until its owner follows the signed link in it (double opt-in).
Confirmed subscribers receive a mail for each published bulletin that concerns what they follow, its
updates and maintenance windows (``notices``, called as each bulletin event is recorded); every mail
carries a one-click unsubscribe link. No answer to a visitor tells whether an address is subscribed.
"""
