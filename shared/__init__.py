"""Code shared by the receiver (`ingest`) and the workers: settings, schema, canonical event, queue contract."""
