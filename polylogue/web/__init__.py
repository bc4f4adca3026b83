"""``polylogue serve``: a local, read-only web app over ``Archive``
(docs/web.md). Imported only by the serve command, so the CLI never pays for
the web stack (Starlette, uvicorn, Jinja2) when it does something else."""
