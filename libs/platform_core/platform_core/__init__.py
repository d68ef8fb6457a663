"""Shared kernel of huice.

Owns nothing of the business: settings base, the SQLAlchemy engine and the `transaction()` unit of work,
after-commit hooks, the naming convention and one PostgreSQL schema per context, the one error envelope,
structured logging with request ids, pagination, CLI helpers, ids and the clock, and the embedded
PostgreSQL/Redis servers used when no URL is configured. Every context depends on it; it depends on none.
"""
