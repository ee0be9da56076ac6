"""Integrations at the GraphQL edge: integration keys for alert intake, webhook endpoints for partners."""
