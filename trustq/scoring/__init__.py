"""Scoring, in three plain steps: read (``read``: the claimed submissions, their cached
embeddings and the stored near-duplicate candidates, in one short transaction), compute
(``compute``: a pure function of the profiles, what was read, the encoder and the model; no
session, no broker) and write (``write``: verdicts, cache entries and failures in one
transaction). ``pipeline`` runs the three for a batch; ``runtime`` is what a worker process
loads once.

Nothing is imported here: ``trustq.scoring.resume_extract`` runs as a child process that
caps its memory before it imports anything large.
"""
