"""Clients of the service that run on a user's machine (no server code): the llm-batch CLI."""
