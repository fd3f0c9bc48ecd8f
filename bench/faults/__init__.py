"""The delivery side under real faults: lost, duplicates and time to recover, as a table."""
