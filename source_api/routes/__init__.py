"""HTTP routes of the source API, one module per resource."""
