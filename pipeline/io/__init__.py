"""Storage at the edges: files by URI, local or object storage (storage), SQL engines (stores), the
champion history (history)."""
