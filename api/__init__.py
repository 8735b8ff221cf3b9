"""The REST API: FastAPI app, routers, auth, and the one place errors become HTTP."""
