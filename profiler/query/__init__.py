"""Queries over the store and the HTTP query API."""
