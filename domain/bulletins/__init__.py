"""Bulletins: what the provider tells customers about outages and maintenance, and the service status
that follows from them."""
