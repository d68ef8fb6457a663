"""BDD: user_auth/features/accounts.feature (steps in tests/user_auth/conftest.py)."""

from pytest_bdd import scenarios

scenarios("user_auth/features/accounts.feature")
