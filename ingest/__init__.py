"""The thin receiver: authenticate at the edge, append the raw callback to Redis, answer."""
