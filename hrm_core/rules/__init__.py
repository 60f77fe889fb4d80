"""Rules: deterministic recognizers (patterns plus checksums) — the regex baseline, and the scanner's engine when no model is promoted."""
