"""A tenant's data in and out: export every row of a tenant, import it again, delete it.

``catalog`` finds the tenant-owned tables in PostgreSQL's catalog (every table with a ``tenant_id``),
``remap`` gives a tenant's rows new ids under a new tenant, ``links`` keeps the references that cross
tenants (they are no foreign keys), and ``export``, ``restore`` and ``removal`` are the three use cases.
They run as the owner role from the command line, scoped to the tenant they act on.
"""
