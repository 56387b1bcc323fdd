"""Reports people read: what timed checks record, evidence of a failed scenario, Allure labels,
and the self-contained conformance report (clause matrix, failures, timelines as SVG)."""
