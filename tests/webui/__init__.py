"""Web UI tests: Playwright and headless Chromium against a real server."""
