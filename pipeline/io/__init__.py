"""Storage at the edges: files by URI, local or object storage (storage), SQL engines (stores), the
forecast database (forecasts) and the champion history (champion_history) in it."""
