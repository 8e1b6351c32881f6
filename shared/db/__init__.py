"""The PostgreSQL schema and engine factory."""
