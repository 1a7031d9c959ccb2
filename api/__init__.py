"""The HTTP API: FastAPI over the Redis store; never calls an exchange."""
