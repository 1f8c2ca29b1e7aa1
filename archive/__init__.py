"""`finterm score`: archives of posts (parquet, CSV, JSONL) scored into a parquet dataset.

inputs.py reads files in bounded chunks, scoring.py turns a chunk into output columns with the
app's own text rules and classifier, parts.py writes each chunk's part atomically and keeps the
manifest a rerun resumes from, local.py scores on this machine and ray_job.py on Ray Data; cli.py
is the command.
"""
