"""The reference hive."""

DEFECT_ENV = "FAULTLINE_HIVE_DEFECT"  # the same as --defect, for harnesses that set the environment
