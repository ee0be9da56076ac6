"""GraphQL of bulletins: types, queries, mutations, and the public status."""
