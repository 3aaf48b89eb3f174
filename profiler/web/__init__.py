"""HTTP plumbing that the ingest and query endpoints share.

What a request handler needs beyond its own job: the one error type it raises
(`errors`), URL parameters such as times (`params`), bounded request bodies and
the limits they obey (`limits`), and the request's context: the server's
config and store, and the tenant it acts for (`context`). It sits below
`ingest`, `query` and `server`, so they all use it and none imports another
sideways or upward; it imports only the store and the model.
"""
