"""The REST API over a workspace (facesift.web.app.create_app)."""
