"""Reconciliation: asking the providers' status APIs about payments, and applying what they answer.

``runtime`` gives a status client what it needs in a process (HTTP within the provider's rate, shared tokens);
``schedule`` says when a payment is asked about next. The workers run the queries (``workers/reconcile``); the
operators' commands run one by hand.
"""
