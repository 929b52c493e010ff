"""Web adapter: FastAPI app, JSON API and (server-rendered) pages."""
