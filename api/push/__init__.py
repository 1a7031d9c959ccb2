"""Live push: one shared store subscription fanned out to websocket clients with bounded queues."""
