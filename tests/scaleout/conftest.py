from tests.server.conftest import new_database, postgres, server_factory  # noqa: F401  (the real servers)
