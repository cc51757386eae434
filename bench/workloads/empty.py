"""Nothing: the start-up cost of each variant (python, cotrace, viztracer)."""
