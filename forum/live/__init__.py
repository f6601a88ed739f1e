"""Live threads: events after commit, a pub/sub hub with backends, the WebSocket endpoint."""
