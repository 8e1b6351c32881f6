"""The outbox's delivery: claim due deliveries, send them (HTTP endpoints) or call them (Python handlers),
record every attempt, retry on the schedule. Runs as ``payhook.deliver`` tasks on the deliveries queue."""
