"""All SQL lives here: schema and migrations (``schema``), connections
(``db``), rows from models (``encode``), the one writer (``writer``), reads
(``queries``), the query compiler (``query``), full-text search (``fts``),
content encoding (``codec``) and integrity (``check``). The store knows no
provider's format."""
