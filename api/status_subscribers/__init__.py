"""Mail subscriptions to public status pages at the edge: the status page's form and links
(``api/status_page/subscribers.py``) and the ``subscribeToStatusPage`` mutation, both through one
``Subscriptions`` desk (its rate limits, the signer of its links, the mail worker it wakes)."""
