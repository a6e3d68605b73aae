"""Every decision rule in one place: the flag checks, near-duplicate resumes, the
configurable rule set, the bands and the final decision. ``trustq.models`` holds the
learned model only."""
