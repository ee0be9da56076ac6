"""Outbound webhooks: signed deliveries of timeline events to partners' endpoints, from the outbox."""
