"""``make bench``: a program that prints figures against baselines measured in the same run."""
