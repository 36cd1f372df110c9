"""Source API: serves the Olist order-item events from PostgreSQL over HTTP (FastAPI + asyncpg)."""
