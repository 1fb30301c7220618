"""Outside anchors for eclip's served rates: other servers set up to serve the same models (docs/serve-bench.md)."""
