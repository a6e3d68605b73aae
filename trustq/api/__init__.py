"""The HTTP API (FastAPI): ``trustq api`` serves ``trustq.api.app.create_app``."""
