"""Flamecam's server: the Flask app that serves ingest, query and the web UI.

`app.create_app` assembles the blueprints of `profiler.ingest`, `profiler.query`
and `webui` over one store; `serve.serve` runs it under waitress in one or more
processes; `command` holds its command-line options (`flamecam server`,
`python -m profiler.server`). This package imports Flask and the store only
in those modules, so importing `profiler.server.command` stays cheap.
"""
