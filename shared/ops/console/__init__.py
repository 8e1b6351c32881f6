"""The operators' console (``/console``): server-rendered pages for dead letters, payments, conflicts,
deliveries, jobs and the audit trail, served by the web process beside the admin API."""
