"""Server, storage, ingest, query and agent tests."""
