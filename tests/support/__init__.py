"""Helpers the tests share, by role: ``fixtures`` (samples, throwaway credentials, signing), ``net`` (ports,
a TCP proxy, raw HTTP), ``processes`` (the Procfile's processes), ``pipeline`` (draining and reading state)."""
