"""The ASGI entry point: `uvicorn server:app` (settings come from the environment and .env)."""

from forum.app import create_app

app = create_app()
