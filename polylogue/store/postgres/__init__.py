"""The shared archive on PostgreSQL (docs/postgres.md): its schema and numbered
migrations (schema.py), the index text the server's full-text search reads
(index_text.py), the bulk upsert a push runs (load.py), connections with the
TLS rule and masked URLs (connect.py), the second compiler of the query
language (query.py) and the read side with Archive's return types (reads.py).

psycopg (3) is an optional dependency (the ``postgres`` extra): it is imported
only by the functions that talk to a server."""
