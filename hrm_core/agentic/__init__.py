"""Agentic data generation with Claude: a manager plans, specialist and conversational agents write,
the code locates values, checks labels, de-duplicates, and a checkpointed run resumes after a crash.

    plan.py        tier 1: balanced mix over channel × domain × labels × difficulty; cost estimate
    agents.py      tiers 2-3: specialist / conversational prompts and the emit_message tool
    client.py      disk cache, retries, Message Batches with fallback to concurrent requests
    extract.py     value location, repair or rejection, label rules, dedupe
    judge.py       optional second-opinion call scoring realism and labels
    checkpoint.py  atomic JSONL + state file of one run
    run.py         the resumable loop
    audit.py       per-message audit rows as Parquet for DuckDB
    (the ``hrm-dlp generate --agentic`` command is hrm_core/cli/agentic.py)
"""
