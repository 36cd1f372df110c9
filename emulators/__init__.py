"""Local servers for tests, benchmarks and the local run: PostgreSQL and the Google emulators."""
