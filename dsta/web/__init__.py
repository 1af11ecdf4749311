"""The server-rendered web app (Django templates + htmx): a presentation layer above every domain that reads
and writes only through the domains' facades. It owns no models and no schema."""
