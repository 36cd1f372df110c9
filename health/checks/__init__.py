"""One module per component; each ``check(probes)`` returns that component's results."""
